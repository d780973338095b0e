"""Admin for durable jobs."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from recording.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "state", "attempts", "run_after", "finished_at"]
    list_filter = ["state", "kind"]
    readonly_fields = ["created_at", "finished_at", "last_error", "locked_until", "lock_token"]
    actions = ["run_again"]

    @admin.action(description="Run again now")
    def run_again(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        queryset.update(state=Job.State.QUEUED, run_after=timezone.now(), attempts=0, locked_until=None, lock_token="")
