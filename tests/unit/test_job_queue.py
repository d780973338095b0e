"""The durable job queue (recording/jobs/queue.py) and the lease it claims rows with (models/leases.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from recording.jobs import queue
from recording.jobs.queue import job_enqueue, job_handler, jobs_run_once
from recording.models import Job
from recording.models.leases import LeaseQuerySet

pytestmark = pytest.mark.django_db
KIND = "test.kind"
TIMEOUT = 30


@pytest.fixture(autouse=True)
def registry() -> Iterator[None]:
    """Handlers registered by a test are gone after it; the app's own stay as they were."""
    saved = dict(queue._handlers)
    yield
    queue._handlers.clear()
    queue._handlers.update(saved)


@pytest.fixture
def calls() -> list[dict[str, Any]]:
    """Payloads seen by a `KIND` handler that succeeds."""
    seen: list[dict[str, Any]] = []
    job_handler(KIND, timeout=TIMEOUT)(seen.append)
    return seen


def failing(payload: dict[str, Any]) -> None:
    raise RuntimeError(f"boom {payload.get('n')}")


def reload(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def lease_end(job: Job) -> datetime:
    locked_until = reload(job).locked_until
    assert locked_until is not None
    return locked_until


def run_once(now: datetime) -> Job:
    ran = jobs_run_once(now=now)
    assert ran is not None
    return ran


# --- the queue -----------------------------------------------------------------------------------------


def test_a_queued_job_runs_once(calls: list[dict[str, Any]]) -> None:
    job = job_enqueue(KIND, {"n": 1})
    ran = jobs_run_once()
    assert ran is not None and ran.pk == job.pk
    assert calls == [{"n": 1}]
    assert (ran.state, ran.attempts, ran.last_error) == (Job.State.DONE, 1, "")
    assert ran.finished_at is not None
    assert (ran.locked_until, ran.lock_token) == (None, "")
    assert jobs_run_once() is None
    assert calls == [{"n": 1}]


def test_a_delayed_job_waits(calls: list[dict[str, Any]]) -> None:
    job = job_enqueue(KIND, {}, delay=60)
    assert jobs_run_once() is None
    assert reload(job).state == Job.State.QUEUED
    assert jobs_run_once(now=job.run_after) is not None
    assert calls == [{}]


def test_jobs_run_in_run_after_order(calls: list[dict[str, Any]]) -> None:
    later = job_enqueue(KIND, {"n": "later"}, delay=5)
    sooner = job_enqueue(KIND, {"n": "sooner"})
    when = later.run_after
    assert [run_once(when).pk, run_once(when).pk] == [sooner.pk, later.pk]


def test_a_failing_job_is_retried_with_backoff() -> None:
    job_handler(KIND, timeout=TIMEOUT)(failing)
    job = job_enqueue(KIND, {"n": 7})
    for attempt in (1, 2, 3):
        before = timezone.now()
        ran = jobs_run_once(now=reload(job).run_after)
        after = timezone.now()
        assert ran is not None
        assert (ran.state, ran.attempts) == (Job.State.QUEUED, attempt)
        assert "RuntimeError: boom 7" in ran.last_error
        assert (ran.locked_until, ran.lock_token) == (None, "")
        backoff = timedelta(seconds=2**attempt)
        assert before + backoff <= ran.run_after <= after + backoff
        assert jobs_run_once(now=ran.run_after - timedelta(milliseconds=1)) is None  # not before the backoff


def test_backoff_is_capped() -> None:
    job_handler(KIND, timeout=TIMEOUT)(failing)
    job = job_enqueue(KIND, {}, max_attempts=100)
    Job.objects.filter(pk=job.pk).update(attempts=30)
    before = timezone.now()
    ran = jobs_run_once()
    assert ran is not None and ran.attempts == 31
    assert ran.run_after - before >= timedelta(seconds=queue.MAX_BACKOFF)
    assert ran.run_after - timezone.now() <= timedelta(seconds=queue.MAX_BACKOFF)


def test_a_job_fails_for_good_after_max_attempts() -> None:
    job_handler(KIND, timeout=TIMEOUT)(failing)
    job = job_enqueue(KIND, {}, max_attempts=2)
    first = jobs_run_once()
    assert first is not None and first.pk == job.pk and first.state == Job.State.QUEUED
    last = jobs_run_once(now=first.run_after)
    assert last is not None
    assert (last.state, last.attempts) == (Job.State.FAILED, 2)
    assert last.finished_at is not None and "boom" in last.last_error
    assert jobs_run_once(now=last.run_after + timedelta(days=1)) is None


def test_an_expired_lease_is_taken_over(calls: list[dict[str, Any]]) -> None:
    job = job_enqueue(KIND, {"n": 1})
    # A worker claimed the job and died: the row stays `running` under its lease.
    dead = Job.objects.filter(pk=job.pk).lease(seconds=TIMEOUT, state=Job.State.RUNNING, attempts=1)
    assert dead is not None
    expires = lease_end(job)
    assert jobs_run_once(now=expires - timedelta(seconds=1)) is None  # still held
    assert calls == []
    ran = jobs_run_once(now=expires + timedelta(seconds=1))
    assert ran is not None and ran.pk == job.pk
    assert (ran.state, ran.attempts) == (Job.State.DONE, 2)
    assert calls == [{"n": 1}]
    assert not Job.objects.filter(pk=job.pk).release(dead, state=Job.State.QUEUED)  # the dead worker's token
    assert reload(job).state == Job.State.DONE


def test_an_expired_lease_on_the_last_attempt_fails_the_job(calls: list[dict[str, Any]]) -> None:
    job = job_enqueue(KIND, {}, max_attempts=1)
    assert Job.objects.filter(pk=job.pk).lease(seconds=TIMEOUT, state=Job.State.RUNNING, attempts=1)
    jobs_run_once(now=lease_end(job) + timedelta(seconds=1))
    assert calls == []
    assert reload(job).state == Job.State.FAILED


def test_a_running_job_cannot_be_claimed_twice() -> None:
    inner: list[Job | None] = []
    job_handler(KIND, timeout=TIMEOUT)(lambda payload: inner.append(jobs_run_once()))
    job = job_enqueue(KIND, {})
    ran = jobs_run_once()
    assert inner == [None]  # a second worker, while the first runs the job, finds nothing to claim
    assert ran is not None and ran.pk == job.pk and ran.attempts == 1


def test_a_job_of_an_unknown_kind_is_left_alone(calls: list[dict[str, Any]]) -> None:
    stranger = job_enqueue("test.unknown", {})
    known = job_enqueue(KIND, {}, delay=1)
    ran = jobs_run_once(now=known.run_after)
    assert ran is not None and ran.pk == known.pk
    assert jobs_run_once(now=known.run_after) is None
    stranger = reload(stranger)
    assert (stranger.state, stranger.attempts, stranger.lock_token, stranger.locked_until) == (
        Job.State.QUEUED,
        0,
        "",
        None,
    )


def test_many_jobs_of_an_unknown_kind_do_not_starve_known_ones(calls: list[dict[str, Any]]) -> None:
    for _ in range(10):
        job_enqueue("test.unknown", {})
    known = job_enqueue(KIND, {}, delay=1)
    ran = jobs_run_once(now=known.run_after)
    assert ran is not None and ran.pk == known.pk


class _RacingRegistry(dict):
    """A registry that lets a second worker run a whole attempt between the first one's read and its claim."""

    raced = False

    def get(self, kind: str, default: Any = None) -> Any:
        if kind == KIND and not self.raced:
            self.raced = True
            jobs_run_once()  # the other worker: claims, fails, re-queues with backoff
        return super().get(kind, default)


def test_a_stale_read_cannot_claim_a_job_retried_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[int] = []

    def fail_counting(payload: dict[str, Any]) -> None:
        attempts.append(reload(job).attempts)
        raise RuntimeError("boom")

    monkeypatch.setattr(queue, "_handlers", _RacingRegistry())
    job_handler(KIND, timeout=TIMEOUT)(fail_counting)
    job = job_enqueue(KIND, {})
    jobs_run_once()
    assert attempts == [1]  # only the other worker ran it; this one found it no longer due
    assert reload(job).attempts == 1


# --- the lease -----------------------------------------------------------------------------------------


def rows(job: Job) -> LeaseQuerySet:
    return Job.objects.filter(pk=job.pk)


def test_lease_claims_a_free_row_once() -> None:
    job = job_enqueue(KIND, {})
    now = timezone.now()
    token = rows(job).lease(seconds=10, now=now, state=Job.State.RUNNING)
    assert token
    assert rows(job).lease(seconds=10, now=now) is None
    assert rows(job).lease(seconds=10, now=now + timedelta(seconds=9)) is None
    held = reload(job)
    assert (held.lock_token, held.locked_until, held.state) == (token, now + timedelta(seconds=10), Job.State.RUNNING)


def test_an_expired_lease_can_be_claimed_with_a_new_token() -> None:
    job = job_enqueue(KIND, {})
    now = timezone.now()
    first = rows(job).lease(seconds=10, now=now)
    second = rows(job).lease(seconds=10, now=now + timedelta(seconds=11))
    assert first and second and first != second
    assert reload(job).lock_token == second


def test_lease_of_filtered_out_rows_fails() -> None:
    job = job_enqueue(KIND, {})
    assert rows(job).filter(state=Job.State.DONE).lease(seconds=10) is None
    assert reload(job).lock_token == ""


def test_renew_needs_the_token() -> None:
    job = job_enqueue(KIND, {})
    token = rows(job).lease(seconds=1)
    assert token
    assert not rows(job).renew("not-the-token", seconds=600)
    before = timezone.now()
    assert rows(job).renew(token, seconds=600)
    assert lease_end(job) >= before + timedelta(seconds=600)


def test_release_needs_the_token_and_frees_the_row() -> None:
    job = job_enqueue(KIND, {})
    token = rows(job).lease(seconds=600)
    assert token
    assert not rows(job).release("not-the-token", state=Job.State.DONE)
    assert reload(job).state == Job.State.QUEUED
    assert rows(job).release(token, state=Job.State.DONE)
    released = reload(job)
    assert (released.state, released.lock_token, released.locked_until) == (Job.State.DONE, "", None)
    assert not rows(job).release(token)  # once only
    assert rows(job).lease(seconds=10)  # free again
