"""Models of interactive live broadcasting: the live session, its server-recorded files, the callback (抄送).

Imported by recording/models.py. The recorded files themselves are `Recording` rows shared with the
uploads library (kind `server`); `LiveFile` ties each one to its session and to the crash-safe spool file
the recorder writes while the session runs.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from recording.models.leases import Leased
from recording.models.library import Recording
from recording.models.rooms import Room


class LiveSession(models.Model):
    """One live broadcast: a host's push to an RTMP URL, optionally recorded on the server.

    The server recorder takes part in the room as the member `#recorder`; `worker_channel` is the
    channel-layer channel that member's messages go to, received by whichever recorder worker claimed
    the session. That worker refreshes `heartbeat_at`; a session whose heartbeat stopped (the worker
    died) is recovered by the job runner, which finalises what was recorded as partial recordings.
    """

    class Status(models.TextChoices):
        STARTING = "starting", "starting"
        LIVE = "live", "live"
        FINISHING = "finishing", "finishing"
        ENDED = "ended", "ended"
        FAILED = "failed", "failed"

    ACTIVE_STATUSES = (Status.STARTING, Status.LIVE)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="live_sessions")
    channel = models.CharField(max_length=64, db_index=True)
    host = models.CharField(max_length=64)
    rtmp_url = models.CharField(max_length=1024)
    record = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STARTING)
    worker_channel = models.CharField(max_length=100)
    recorder_session = models.CharField(max_length=32)
    push_state = models.CharField(max_length=16, blank=True, default="")
    push_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True, default="")
    # pauseLiveRecord() / resumeLiveRecord(): [{"start": iso, "end": iso | null}], wall-clock times
    record_paused = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["room"], condition=models.Q(status__in=["starting", "live"]), name="one_active_live_per_room"
            )
        ]

    def __str__(self) -> str:
        return f"LiveSession({self.id} {self.channel} {self.status})"


class LiveFile(models.Model):
    """One file a live session records (the composite, or one segment of a member's video or audio), or
    a file it should have recorded and did not: then `recording` is empty and `reason` says why.

    `reason` codes (docs/live.md): `never_joined_recorder`, `no_media`, `media_stopped` (the file ends
    early), `writer_failed` (the file ends at the failure), `finish_failed`; `detail` says more."""

    class Track(models.TextChoices):
        COMPOSITE = "composite", "composite (mixed audio and video)"
        VIDEO = "video", "one member's video"
        AUDIO = "audio", "one member's audio"

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="files")
    recording = models.OneToOneField(
        Recording, null=True, blank=True, on_delete=models.CASCADE, related_name="live_file"
    )
    track = models.CharField(max_length=10, choices=Track.choices)
    account = models.CharField(max_length=64, blank=True, default="")
    segment = models.PositiveSmallIntegerField(default=0, help_text="a new file after a resolution change")
    codec = models.CharField(max_length=16, blank=True, default="", help_text="as the browser sent it")
    spool_name = models.CharField(max_length=255, blank=True, help_text="the crash-safe file written while recording")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    sender_start = models.FloatField(
        null=True, blank=True, help_text="the first frame on the sender's clock (RTCP sender reports), Unix s"
    )
    reason = models.CharField(max_length=32, blank=True, default="")
    detail = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "track", "account", "segment"], name="one_live_file_per_track_segment"
            )
        ]

    def __str__(self) -> str:
        return f"LiveFile({self.track} {self.account or '-'} {self.segment})"


class CallbackDelivery(Leased):
    """One signed HTTP callback (抄送) to the customer's server, delivered durably by the job runner.

    `next_attempt_at` is the only scheduling state: null once delivered or given up. A runner claims an
    attempt by moving it forward (compare-and-swap), so two runners never post the same attempt.
    """

    EVENT_LIVE_RECORDED = "live.recorded"

    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=32, default=EVENT_LIVE_RECORDED)
    live_session = models.ForeignKey(
        LiveSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="callbacks"
    )
    url = models.CharField(max_length=1024)
    payload = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="gave up: the deadline passed")
    deadline_at = models.DateTimeField()
    last_status = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "callback deliveries"

    def __str__(self) -> str:
        return f"CallbackDelivery({self.event_id} {self.state})"

    @property
    def state(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.failed_at is not None:
            return "failed"
        return "pending"
