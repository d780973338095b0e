"""Admin for the recordings library and uploads."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from recording.library import services as library
from recording.library.finishing import recording_request_transcode
from recording.models import RecordConsent, Recording, Upload


class ConsentInline(admin.TabularInline):
    """Who agreed (or refused) to be recorded for this recording."""

    model = RecordConsent
    fields = ["target", "recorder", "kind", "state", "asked_at", "answered_at"]
    readonly_fields = ["target", "recorder", "kind", "state", "asked_at", "answered_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(RecordConsent)
class RecordConsentAdmin(admin.ModelAdmin):
    list_display = ["asked_at", "channel", "target", "recorder", "kind", "state", "answered_at", "recording"]
    list_filter = ["state", "kind"]
    search_fields = ["channel", "target", "recorder", "id"]
    readonly_fields = [f.name for f in RecordConsent._meta.fields]


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    inlines = [ConsentInline]
    list_display = ["created_at", "channel", "account", "recorder", "kind", "status", "duration", "size"]
    list_filter = ["status", "kind", "container"]
    search_fields = ["channel", "account", "recorder", "sha256", "id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "sha256",
        "size",
        "file",
        "seekable_file",
        "transcoded_file",
        "poster_file",
        "thumbnails_file",
        "waveform_file",
        "levels_file",
        "started_at",
        "container",
        "video_codec",
        "audio_codec",
        "duration",
        "failure_reason",
        "created_at",
        "finished_at",
        "download",
    ]
    actions = ["delete_with_files", "request_transcode"]

    @admin.display(description="download")
    def download(self, obj: Recording) -> str:
        url = library.recording_download_url(obj)
        return format_html('<a href="{}">original</a>', url) if url else "-"

    def get_actions(self, request: HttpRequest) -> dict:  # type: ignore[type-arg]
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # the bulk delete would leave the files behind
        return actions

    def delete_model(self, request: HttpRequest, obj: Recording) -> None:
        library.recording_delete(obj, by=f"admin:{request.user}")

    @admin.action(description="Delete the selected recordings and their files")
    def delete_with_files(self, request: HttpRequest, queryset: QuerySet[Recording]) -> None:
        for recording in queryset:
            library.recording_delete(recording, by=f"admin:{request.user}")

    @admin.action(description="Transcode (MP4 H.264+AAC / AAC .m4a)")
    def request_transcode(self, request: HttpRequest, queryset: QuerySet[Recording]) -> None:
        for recording in queryset:
            recording_request_transcode(recording)


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["id", "account", "channel", "state", "offset", "length", "updated_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["id", "account", "channel"]
    readonly_fields = [f.name for f in Upload._meta.fields]
