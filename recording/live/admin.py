"""Django admin for live sessions and callbacks (抄送): visible, and re-deliverable by an operator."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from recording.jobs.queue import wake_workers
from recording.live.callbacks import callback_redeliver
from recording.models.live import CallbackDelivery, LiveFile, LiveSession


class LiveFileInline(admin.TabularInline):
    model = LiveFile
    extra = 0
    can_delete = False
    readonly_fields = [
        "track",
        "account",
        "segment",
        "codec",
        "recording",
        "reason",
        "detail",
        "sender_start",
        "started_at",
        "ended_at",
    ]
    exclude = ["spool_name"]


@admin.register(LiveSession)
class LiveSessionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "channel", "host", "status", "record", "push_state", "end_reason"]
    list_filter = ["status", "record", "push_state"]
    search_fields = ["channel", "host", "id"]
    readonly_fields = [f.name for f in LiveSession._meta.fields]
    inlines = [LiveFileInline]


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event_id", "event_type", "state", "attempts", "last_status", "next_attempt_at"]
    list_filter = ["event_type", "delivered_at", "failed_at"]
    search_fields = ["event_id", "url", "last_error"]
    readonly_fields = [f.name for f in CallbackDelivery._meta.fields] + ["state"]
    actions = ["redeliver"]

    @admin.action(description="Deliver again now (same event id, fresh download links)")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[CallbackDelivery]) -> None:
        count = 0
        for delivery in queryset.select_related("live_session"):
            callback_redeliver(delivery)
            count += 1
        wake_workers()
        self.message_user(request, f"{count} callback(s) queued for delivery.", messages.SUCCESS)
