from django.contrib import admin

from recording.models import Member, RecordNotice, Room


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0
    readonly_fields = ["account", "session", "role", "audio", "video", "joined_at", "last_seen"]
    exclude = ["channel_name"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MemberInline]


@admin.register(RecordNotice)
class RecordNoticeAdmin(admin.ModelAdmin):
    list_display = ["room", "recorder", "target", "kind", "started_at"]


# --- recordings library, uploads and jobs ---------------------------------------------------------------
from django.db.models import QuerySet  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.html import format_html  # noqa: E402

from recording import library  # noqa: E402
from recording.models import Job, Recording, Upload  # noqa: E402


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
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
            library.recording_request_transcode(recording)


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["id", "account", "channel", "state", "offset", "length", "updated_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["id", "account", "channel"]
    readonly_fields = [f.name for f in Upload._meta.fields]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "state", "attempts", "run_after", "finished_at"]
    list_filter = ["state", "kind"]
    readonly_fields = ["created_at", "finished_at", "last_error", "locked_until", "lock_token"]
    actions = ["run_again"]

    @admin.action(description="Run again now")
    def run_again(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        queryset.update(state=Job.STATE_QUEUED, run_after=timezone.now(), attempts=0, locked_until=None, lock_token="")


# Live sessions and callbacks (抄送) have their own admin module.
from recording import live_admin  # noqa: E402, F401
