"""Room state that must outlive any one server process: rooms, their members and recording notices."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models


class Room(models.Model):
    name = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """One connected participant. `session` changes on every join; `channel_name` reaches its socket."""

    class Role(models.TextChoices):
        MEMBER = "member", "member"
        HOST = "host", "host"
        COHOST = "cohost", "co-host"
        RECORDER = "recorder", "server recorder"

    LIVE_ROLES = (Role.HOST, Role.COHOST)

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="members")
    account = models.CharField(max_length=64)
    session = models.CharField(max_length=32, unique=True)
    channel_name = models.CharField(max_length=200)
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    audio = models.BooleanField(default=True)
    video = models.BooleanField(default=True)
    record_consent = models.CharField(
        max_length=5, default="allow", help_text="'ask': recording this member needs its consent first"
    )
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
            "recordConsent": self.record_consent,
            "joinedAt": self.joined_at.isoformat(),
        }


class RecordNotice(models.Model):
    """Who is recording whom, so that every member can be told (the recording happens in a browser)."""

    class Kind(models.TextChoices):
        MP4 = "mp4", "participant (startRecordMp4)"
        AAC = "aac", "mix (startRecordAac)"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="record_notices")
    recorder = models.CharField(max_length=64)
    target = models.CharField(max_length=64, blank=True, default="")
    kind = models.CharField(max_length=3, choices=Kind.choices)
    started_at = models.DateTimeField()
    # record.pause / record.resume: since when it is paused (null: recording), and how long it was before
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.FloatField(default=0.0)

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
            "paused": self.paused_at is not None,
            "pausedAt": self.paused_at.isoformat() if self.paused_at is not None else None,
            "pausedSeconds": round(self.paused_seconds, 3),
        }


class RecordAnnouncement(models.Model):
    """A lasting trace of `record.start`: `recorder` announced recording `target` in `channel`.

    A RecordNotice goes with record.stop; this stays, because an upload of that recording may be created
    or resumed afterwards (a crashed tab's journal), and an upload's `target` is accepted only for the
    uploader or someone it announced recording (recording/uploads/services.py).
    """

    channel = models.CharField(max_length=64)
    recorder = models.CharField(max_length=64)
    target = models.CharField(max_length=64)
    announced_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "recorder", "target"], name="one_announcement_per_target")
        ]

    def __str__(self) -> str:
        return f"{self.recorder} recorded {self.target} in {self.channel}"


class RoomEvent(models.Model):
    """What happened in a channel and when: a member joined, left, or turned audio/video on or off.

    The recordings' timelines are drawn from these (recording/library/timeline.py); kept for
    NETCALL_ROOM_EVENT_DAYS. Unlike Member rows, they outlive the members and the room."""

    class Kind(models.TextChoices):
        JOIN = "join", "joined"
        LEAVE = "leave", "left"
        MEDIA = "media", "changed media"

    channel = models.CharField(max_length=64)
    account = models.CharField(max_length=64)
    kind = models.CharField(max_length=5, choices=Kind.choices)
    audio = models.BooleanField(null=True, blank=True)
    video = models.BooleanField(null=True, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["channel", "at"], name="room_event_channel_at")]
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.account} {self.kind} {self.channel} at {self.at:%H:%M:%S}"


class RecordConsent(models.Model):
    """A member asked whether `recorder` may record it (`record.request`), and what it answered.

    Kept after the call: it travels with the upload of that recording (`recording`, set when the upload is
    created) and is shown in the library, the admin and the API."""

    class State(models.TextChoices):
        PENDING = "pending", "asked, no answer yet"
        ACCEPTED = "accepted", "agreed"
        REFUSED = "refused", "refused"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(max_length=64, db_index=True)
    recorder = models.CharField(max_length=64)
    target = models.CharField(max_length=64, help_text="who was asked (whose media)")
    kind = models.CharField(max_length=3, help_text="mp4: the member's own recording; aac: the mix")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    asked_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    recording = models.ForeignKey(
        "recording.Recording", null=True, blank=True, on_delete=models.SET_NULL, related_name="consents"
    )

    class Meta:
        indexes = [models.Index(fields=["channel", "recorder", "target"], name="consent_who")]
        ordering = ["asked_at"]

    def __str__(self) -> str:
        return f"{self.target} {self.state} to {self.recorder} ({self.kind}) in {self.channel}"

    def as_wire(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "recorder": self.recorder,
            "target": self.target,
            "kind": self.kind,
            "state": self.state,
            "askedAt": self.asked_at.isoformat(),
            "answeredAt": self.answered_at.isoformat() if self.answered_at else None,
        }
