"""The recordings library: one row per recorded file, uploaded or written by the server."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class Recording(models.Model):
    """One recorded file in the library, uploaded from a browser or written by the server.

    `file` is the file as it was uploaded or written, byte for byte; `seekable_file` a remux of it with
    duration and index (no re-encode); `transcoded_file` the format the API name promises (MP4 with
    H.264 + AAC for `startRecordMp4`, AAC `.m4a` for `startRecordAac`), made on request. File names are
    made by recording.library.storage only.
    """

    class Kind(models.TextChoices):
        PARTICIPANT = "participant", "participant (startRecordMp4)"
        MIX = "mix", "mix (startRecordAac)"
        SERVER = "server", "server recording"

    class Status(models.TextChoices):
        RECORDING = "recording", "recording"
        UPLOADING = "uploading", "uploading"
        FINISHING = "finishing", "finishing"
        READY = "ready", "ready"
        PARTIAL = "partial", "partial"
        FAILED = "failed", "failed"

    PLAYABLE_STATUSES = (Status.READY, Status.PARTIAL)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(max_length=64, db_index=True)
    account = models.CharField(max_length=64, blank=True, default="", help_text="whose media; empty for a mix")
    recorder = models.CharField(max_length=64, blank=True, default="", help_text="who recorded; empty: the server")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECORDING, db_index=True)
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
    # Made by the previews job (recording/library/previews.py): PNG pictures and the timeline's media part.
    poster_file = models.FileField(max_length=255, blank=True, default="", help_text="PNG: a frame (video)")
    thumbnails_file = models.FileField(max_length=255, blank=True, default="", help_text="PNG: the seek strip")
    waveform_file = models.FileField(max_length=255, blank=True, default="", help_text="PNG: the waveform (audio)")
    levels_file = models.FileField(max_length=255, blank=True, default="", help_text="JSON: levels, speech")
    started_at = models.DateTimeField(
        null=True, blank=True, help_text="when recording began (the timeline's zero); unknown: null"
    )
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

    @property
    def has_video(self) -> bool:
        return bool(self.video_codec)

    def format_as_wire(self) -> dict[str, str | None]:
        """What the file is, as the recordings API and the live callback both say it."""
        return {
            "mimeType": self.mime_type,
            "container": self.container,
            "videoCodec": self.video_codec or None,
            "audioCodec": self.audio_codec or None,
        }


class TranscodeRequest(models.Model):
    """One transcode asked for on behalf of `account`, counted by NETCALL_TRANSCODE_PER_HOUR."""

    account = models.CharField(max_length=64)
    requested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["account", "requested_at"], name="transcode_account_time")]

    def __str__(self) -> str:
        return f"TranscodeRequest({self.account}, {self.requested_at:%Y-%m-%d %H:%M})"
