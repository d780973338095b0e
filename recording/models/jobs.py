"""Durable background jobs (recording/jobs/queue.py)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from recording.models.leases import Leased


class Job(Leased):
    """A durable background job (recording/jobs.py): survives restarts, retried with backoff."""

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    attempts = models.IntegerField(default=0)
    max_attempts = models.IntegerField(default=8)
    run_after = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_after", "id"]
        indexes = [models.Index(fields=["state", "run_after"], name="job_state_run_after")]

    def __str__(self) -> str:
        return f"Job({self.id} {self.kind})"
