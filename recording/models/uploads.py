"""One tus upload in progress (recording/uploads/services.py)."""

from __future__ import annotations

from django.db import models

from recording.models.leases import Leased


class Upload(Leased):
    """One tus upload (see recording/uploads.py): bytes arrive in a staging file, then become a Recording.

    `offset` only moves under the lock (`lock_token`/`locked_until`), so two PATCH requests to the same
    upload can never interleave their bytes; a lock left behind by a dead process expires.
    """

    class State(models.TextChoices):
        OPEN = "open", "receiving"
        COMPLETE = "complete", "complete"
        EXPIRED = "expired", "expired"

    id = models.UUIDField(primary_key=True, editable=False)
    account = models.CharField(max_length=64)
    channel = models.CharField(max_length=64, db_index=True)
    length = models.BigIntegerField(null=True, blank=True, help_text="null while the length is deferred")
    offset = models.BigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(help_text="last time bytes arrived")
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    snapshot_offset = models.BigIntegerField(
        default=0, help_text="bytes already kept as a partial recording after the upload went idle"
    )
    recording = models.OneToOneField(
        "Recording", null=True, blank=True, on_delete=models.SET_NULL, related_name="upload"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "updated_at"], name="upload_state_updated")]

    def __str__(self) -> str:
        return f"Upload({self.id})"

    @property
    def is_complete(self) -> bool:
        return self.length is not None and self.offset == self.length
