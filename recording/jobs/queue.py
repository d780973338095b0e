"""Durable background jobs: rows in the database, claimed by compare-and-swap, retried with backoff.

A job is queued with `job_enqueue(kind, payload)` (inside the caller's transaction if it has one, so
the job exists exactly when the change that needs it does) and runs in a worker: by default a thread
inside each server process (NETCALL_JOBS_IN_PROCESS), or `manage.py netcall_jobs` as separate processes.
A worker that dies mid-job leaves the job `running` with a lock that expires; another worker then
takes it again, so a job survives restarts. Handlers must therefore be safe to run twice.

Handlers register with `@job_handler("kind", timeout=...)`; periodic upkeep with `@periodic(seconds)`.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from recording.models import Job

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
DEFAULT_TIMEOUT = 15 * 60
MAX_BACKOFF = 15 * 60


@dataclass(frozen=True)
class _Registered:
    handler: Handler
    timeout: int


@dataclass
class _Periodic:
    name: str
    interval: float
    function: Callable[[], object]
    next_run: float = 0.0


_handlers: dict[str, _Registered] = {}
_periodic: list[_Periodic] = []


def job_handler(kind: str, *, timeout: int = DEFAULT_TIMEOUT) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of `kind`; `timeout` is how long a claim lasts."""

    def register(function: Handler) -> Handler:
        _handlers[kind] = _Registered(function, timeout)
        return function

    return register


def periodic(name: str, interval: float) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Register upkeep that every worker runs about every `interval` seconds (it must tolerate overlap)."""

    def register(function: Callable[[], object]) -> Callable[[], object]:
        if not any(p.name == name for p in _periodic):
            _periodic.append(_Periodic(name, interval, function))
        return function

    return register


def job_enqueue(kind: str, payload: dict[str, Any], *, delay: float = 0, max_attempts: int = 8) -> Job:
    job = Job.objects.create(
        kind=kind,
        payload=payload,
        run_after=timezone.now() + timedelta(seconds=delay),
        max_attempts=max_attempts,
    )
    logger.info("Job(%s) %s queued", job.id, kind)
    wake_workers()
    return job


def _backoff(attempts: int) -> float:
    return float(min(MAX_BACKOFF, 2 ** min(attempts, 20)))


def _claim(now: datetime) -> tuple[Job, str] | None:
    """Lease the oldest due job of a kind this worker knows (others are left to workers that know them)."""
    due = (
        Job.objects.filter(
            Q(state=Job.State.QUEUED, run_after__lte=now) | Q(state=Job.State.RUNNING, locked_until__lt=now)
        )
        .filter(kind__in=list(_handlers))
        .order_by("run_after", "id")
    )
    for job in due[:10]:
        registered = _handlers[job.kind]
        if job.state == Job.State.RUNNING and job.attempts >= job.max_attempts:
            _give_up_abandoned(job, now)  # its worker died on the last attempt: it must not run again
            continue
        # `attempts` is part of the compare-and-swap: a job another worker ran and re-queued since this read
        # has the same state and an empty lock again, but one more attempt.
        token = Job.objects.filter(pk=job.pk, state=job.state, lock_token=job.lock_token, attempts=job.attempts).lease(
            seconds=registered.timeout, now=now, state=Job.State.RUNNING, attempts=job.attempts + 1
        )
        if token is not None:
            job.refresh_from_db()
            return job, token
    return None


def _give_up_abandoned(job: Job, now: datetime) -> None:
    failed = Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, lock_token=job.lock_token).update(
        state=Job.State.FAILED,
        finished_at=now,
        locked_until=None,
        lock_token="",
        last_error=f"the worker running attempt {job.attempts} of {job.max_attempts} stopped before finishing",
    )
    if failed:
        logger.error("Job(%s) %s failed for good: its worker died on the last attempt", job.id, job.kind)


def jobs_run_once(*, now: datetime | None = None) -> Job | None:
    """Claim and run one due job; returns it (with its new state) or None when nothing was due."""
    claim = _claim(now or timezone.now())
    if claim is None:
        return None
    job, token = claim
    registered = _handlers[job.kind]
    try:
        registered.handler(dict(job.payload))
    except Exception:
        error = traceback.format_exc(limit=8)
        if job.attempts >= job.max_attempts:
            logger.error("Job(%s) %s failed for good after %d attempts:\n%s", job.id, job.kind, job.attempts, error)
            fields: dict[str, Any] = {"state": Job.State.FAILED, "finished_at": timezone.now()}
        else:
            delay = _backoff(job.attempts)
            logger.warning("Job(%s) %s failed (attempt %d), retry in %.0f s", job.id, job.kind, job.attempts, delay)
            fields = {"state": Job.State.QUEUED, "run_after": timezone.now() + timedelta(seconds=delay)}
        Job.objects.filter(pk=job.pk).release(token, last_error=error, **fields)
    else:
        Job.objects.filter(pk=job.pk).release(token, state=Job.State.DONE, finished_at=timezone.now(), last_error="")
        logger.info("Job(%s) %s done", job.id, job.kind)
    job.refresh_from_db()
    return job


def jobs_run_pending(*, limit: int = 1000) -> int:
    """Run due jobs until none is left (or `limit`); for tests and `netcall_jobs --once`."""
    count = 0
    while count < limit and jobs_run_once() is not None:
        count += 1
    return count


def periodic_run_due(*, now: float, force: bool = False) -> None:
    for task in _periodic:
        if force or now >= task.next_run:
            task.next_run = now + task.interval
            try:
                task.function()
            except Exception:
                logger.exception("Periodic task %s failed", task.name)


# --- workers -----------------------------------------------------------------------------------------


@dataclass
class JobWorker:
    """Runs jobs and periodic upkeep until stopped: a daemon thread in the server, or a command's loop."""

    poll_seconds: float = 1.0
    stop_event: threading.Event = field(default_factory=threading.Event)
    wake_event: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import time

        logger.info("JobWorker(%s) started", threading.current_thread().name)
        while not self.stop_event.is_set():
            try:
                close_old_connections()
                periodic_run_due(now=time.monotonic())
                while not self.stop_event.is_set() and jobs_run_once() is not None:
                    pass
            except Exception:
                logger.exception("JobWorker loop failed; continuing")
            finally:
                close_old_connections()
            self.wake_event.wait(self.poll_seconds)
            self.wake_event.clear()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake_event.set()


_workers: list[JobWorker] = []
_start_lock = threading.Lock()


def wake_workers() -> None:
    for worker in _workers:
        worker.wake_event.set()


def start_in_process_worker() -> JobWorker | None:
    """Start the in-process worker thread once per process, when NETCALL_JOBS_IN_PROCESS is on."""
    if not settings.NETCALL_JOBS_IN_PROCESS:
        return None
    with _start_lock:
        if _workers:
            return _workers[0]
        worker = JobWorker(poll_seconds=float(settings.NETCALL_JOBS_POLL_SECONDS))
        _workers.append(worker)
        threading.Thread(target=worker.run, name="netcall-jobs", daemon=True).start()
        return worker
