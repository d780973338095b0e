"""`manage.py netcall_jobs`: run the durable job worker (finishing, upkeep, callbacks) in the foreground.

The server runs one in-process by default (NETCALL_JOBS_IN_PROCESS); run this instead, as many as you
like, when the web processes should not do media work (set NETCALL_JOBS_IN_PROCESS=0 on those)."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recording.jobs.queue import JobWorker, jobs_run_pending, periodic_run_due


class Command(BaseCommand):
    help = "Run background jobs until interrupted (or once, with --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run upkeep and every due job, then exit")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between looks for new jobs")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            import time

            periodic_run_due(now=time.monotonic(), force=True)
            count = jobs_run_pending()
            self.stdout.write(f"ran {count} job(s)")
            return
        worker = JobWorker(poll_seconds=options["poll"])
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: worker.stop())
        self.stdout.write("netcall job worker running; Ctrl-C stops it")
        worker.run()
