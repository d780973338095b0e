"""Room state that must outlive any one server process: rooms, their members and recording notices."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone


class Room(models.Model):
    name = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """One connected participant. `session` changes on every join; `channel_name` reaches its socket."""

    ROLE_MEMBER = "member"
    ROLE_HOST = "host"
    ROLE_COHOST = "cohost"
    ROLE_RECORDER = "recorder"
    ROLE_CHOICES = [
        (ROLE_MEMBER, "member"),
        (ROLE_HOST, "host"),
        (ROLE_COHOST, "co-host"),
        (ROLE_RECORDER, "server recorder"),
    ]
    LIVE_ROLES = (ROLE_HOST, ROLE_COHOST)

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="members")
    account = models.CharField(max_length=64)
    session = models.CharField(max_length=32, unique=True)
    channel_name = models.CharField(max_length=200)
    role = models.CharField(max_length=8, choices=ROLE_CHOICES, default=ROLE_MEMBER)
    audio = models.BooleanField(default=True)
    video = models.BooleanField(default=True)
    joined_at = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "account"], name="one_member_per_account")]
        ordering = ["joined_at", "id"]

    def __str__(self) -> str:
        return f"{self.account}@{self.room_id}"

    def as_wire(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "session": self.session,
            "role": self.role,
            "media": {"audio": self.audio, "video": self.video},
            "joinedAt": self.joined_at.isoformat(),
        }


class RecordNotice(models.Model):
    """Who is recording whom, so that every member can be told (the recording happens in a browser)."""

    KIND_MP4 = "mp4"
    KIND_AAC = "aac"
    KIND_CHOICES = [(KIND_MP4, "participant (startRecordMp4)"), (KIND_AAC, "mix (startRecordAac)")]

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="record_notices")
    recorder = models.CharField(max_length=64)
    target = models.CharField(max_length=64, blank=True, default="")
    kind = models.CharField(max_length=3, choices=KIND_CHOICES)
    started_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "recorder", "target", "kind"], name="one_notice_per_recording")
        ]
        ordering = ["started_at", "id"]

    def as_wire(self) -> dict[str, Any]:
        return {
            "recorder": self.recorder,
            "target": self.target or None,
            "kind": self.kind,
            "startedAt": self.started_at.isoformat(),
        }


class Upload(models.Model):
    """One tus upload (see recording/uploads.py): bytes arrive in a staging file, then become a Recording.

    `offset` only moves under the lock (`lock_token`/`locked_until`), so two PATCH requests to the same
    upload can never interleave their bytes; a lock left behind by a dead process expires.
    """

    STATE_OPEN = "open"
    STATE_COMPLETE = "complete"
    STATE_EXPIRED = "expired"
    STATE_CHOICES = [(STATE_OPEN, "receiving"), (STATE_COMPLETE, "complete"), (STATE_EXPIRED, "expired")]

    id = models.UUIDField(primary_key=True, editable=False)
    account = models.CharField(max_length=64)
    channel = models.CharField(max_length=64, db_index=True)
    length = models.BigIntegerField(null=True, blank=True, help_text="null while the length is deferred")
    offset = models.BigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=8, choices=STATE_CHOICES, default=STATE_OPEN)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(help_text="last time bytes arrived")
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    lock_token = models.CharField(max_length=32, blank=True, default="")
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


class Recording(models.Model):
    """One recorded file in the library, uploaded from a browser or written by the server.

    `file` is the file as it was uploaded or written, byte for byte; `seekable_file` a remux of it with
    duration and index (no re-encode); `transcoded_file` the format the API name promises (MP4 with
    H.264 + AAC for `startRecordMp4`, AAC `.m4a` for `startRecordAac`), made on request. File names are
    made by recording.storage only.
    """

    KIND_PARTICIPANT = "participant"
    KIND_MIX = "mix"
    KIND_SERVER = "server"
    KIND_CHOICES = [
        (KIND_PARTICIPANT, "participant (startRecordMp4)"),
        (KIND_MIX, "mix (startRecordAac)"),
        (KIND_SERVER, "server recording"),
    ]
    STATUS_RECORDING = "recording"
    STATUS_UPLOADING = "uploading"
    STATUS_FINISHING = "finishing"
    STATUS_READY = "ready"
    STATUS_PARTIAL = "partial"
    STATUS_FAILED = "failed"
    STATUS_CHOICES = [
        (STATUS_RECORDING, "recording"),
        (STATUS_UPLOADING, "uploading"),
        (STATUS_FINISHING, "finishing"),
        (STATUS_READY, "ready"),
        (STATUS_PARTIAL, "partial"),
        (STATUS_FAILED, "failed"),
    ]
    PLAYABLE_STATUSES = (STATUS_READY, STATUS_PARTIAL)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(max_length=64, db_index=True)
    account = models.CharField(max_length=64, blank=True, default="", help_text="whose media; empty for a mix")
    recorder = models.CharField(max_length=64, blank=True, default="", help_text="who recorded; empty: the server")
    kind = models.CharField(max_length=12, choices=KIND_CHOICES)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=STATUS_RECORDING, db_index=True)
    mime_type = models.CharField(max_length=100, blank=True, default="")
    container = models.CharField(max_length=16, blank=True, default="", help_text="as found by decoding")
    video_codec = models.CharField(max_length=32, blank=True, default="")
    audio_codec = models.CharField(max_length=32, blank=True, default="")
    duration = models.FloatField(null=True, blank=True, help_text="seconds")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    file = models.FileField(max_length=255, blank=True, default="")
    seekable_file = models.FileField(max_length=255, blank=True, default="")
    transcoded_file = models.FileField(max_length=255, blank=True, default="")
    transcode_requested = models.BooleanField(default=False)
    client_filename = models.CharField(max_length=255, blank=True, default="", help_text="metadata only")
    failure_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["channel", "created_at"], name="recording_channel_created")]

    def __str__(self) -> str:
        return f"Recording({self.id})"

    @property
    def is_playable(self) -> bool:
        return self.status in self.PLAYABLE_STATUSES and bool(self.file)


class Job(models.Model):
    """A durable background job (recording/jobs.py): survives restarts, retried with backoff."""

    STATE_QUEUED = "queued"
    STATE_RUNNING = "running"
    STATE_DONE = "done"
    STATE_FAILED = "failed"
    STATE_CHOICES = [
        (STATE_QUEUED, "queued"),
        (STATE_RUNNING, "running"),
        (STATE_DONE, "done"),
        (STATE_FAILED, "failed"),
    ]

    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=8, choices=STATE_CHOICES, default=STATE_QUEUED)
    attempts = models.IntegerField(default=0)
    max_attempts = models.IntegerField(default=8)
    run_after = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    lock_token = models.CharField(max_length=32, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_after", "id"]
        indexes = [models.Index(fields=["state", "run_after"], name="job_state_run_after")]

    def __str__(self) -> str:
        return f"Job({self.id} {self.kind})"


# Live broadcasting and the callback (抄送) live in their own module; imported here so Django sees them.
from recording.live_models import CallbackDelivery, LiveFile, LiveSession  # noqa: E402, F401
