"""`manage.py netcall_retention [--days N] [--dry-run]`: delete recordings older than the retention age,
and the room events their timelines were drawn from.

Each deletion is logged (logger `recording.library.services`) and printed. Run it daily (cron, systemd timer)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recording.library.services import recording_delete, recordings_expired, room_events_expire


class Command(BaseCommand):
    help = "Delete recordings (and their files) older than --days (default NETCALL_RETENTION_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None)
        parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.NETCALL_RETENTION_DAYS if options["days"] is None else options["days"]
        if days <= 0:
            if options["days"] is not None:
                raise CommandError("--days must be a positive number of days")
            self.stdout.write("NETCALL_RETENTION_DAYS is 0: recordings are kept forever; nothing to do")
            return
        count = 0
        for recording in recordings_expired(days=days).iterator():
            count += 1
            line = f"{recording.pk} {recording.channel} {recording.account or '-'} {recording.created_at.isoformat()}"
            if options["dry_run"]:
                self.stdout.write(f"would delete {line}")
            else:
                recording_delete(recording, by=f"retention ({days} days)")
                self.stdout.write(f"deleted {line}")
        self.stdout.write(f"{count} recording(s) older than {days} days {'found' if options['dry_run'] else 'deleted'}")
        if not options["dry_run"]:
            self.stdout.write(f"{room_events_expire(days=days)} room event(s) older than {days} days deleted")
