"""The recordings library: access, links, deletion and retention of Recording rows.

Views and commands call these functions; file names come from recording/library/storage.py. Finishing
jobs live in recording/library/finishing.py; the Recording row of an upload in recording/uploads/.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from recording.library import storage
from recording.models import Recording, RoomEvent

logger = logging.getLogger(__name__)


def recording_download_url(recording: Recording, *, role: str = "original", inline: bool = False) -> str:
    """A signed link to one of the recording's files; "" when it has no such file."""
    field_name = storage.ROLES[role]
    if not getattr(recording, field_name).name:
        return ""
    return storage.download_url(recording.pk, role=role, inline=inline)


# --- access, deletion, retention ----------------------------------------------------------------------


def recordings_for_channel(channel: str, *, filters: dict[str, str] | None = None) -> QuerySet[Recording]:
    """A channel's recordings, newest first, with optional `account`, `kind` and `status` filters."""
    queryset = Recording.objects.filter(channel=channel)
    for key in ("account", "kind", "status", "recorder"):
        value = (filters or {}).get(key)
        if value:
            queryset = queryset.filter(**{key: value})
    return queryset.order_by("-created_at")


def recording_file_names(recording: Recording) -> list[str]:
    """The storage names of every rendition a recording has (empty strings where it has none)."""
    return [getattr(recording, field).name for field in storage.ROLES.values()]


def recording_files_delete(names: list[str]) -> None:
    for name in names:
        storage.storage_delete(name)


def recording_delete(recording: Recording, *, by: str) -> None:
    names = recording_file_names(recording)
    recording_id = recording.pk
    Recording.objects.filter(pk=recording_id).delete()
    recording_files_delete(names)
    logger.info("Recording(%s) of %s in %s deleted by %s", recording_id, recording.account, recording.channel, by)


def recordings_expired(*, days: int, now: datetime | None = None) -> QuerySet[Recording]:
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return Recording.objects.filter(created_at__lt=cutoff).exclude(
        status__in=(Recording.Status.RECORDING, Recording.Status.UPLOADING, Recording.Status.FINISHING)
    )


def room_events_expire(*, days: int, now: datetime | None = None) -> int:
    """Delete the room events (the timelines' joins, leaves, mutes) older than the retention age: the
    recordings they were kept for are gone by then. Returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = RoomEvent.objects.filter(at__lt=cutoff).delete()
    return deleted


def recording_as_api(recording: Recording, *, with_urls: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(recording.pk),
        "channel": recording.channel,
        "account": recording.account or None,
        "recorder": recording.recorder or None,
        "kind": recording.kind,
        "status": recording.status,
        **recording.format_as_wire(),
        "duration": recording.duration,
        "size": recording.size,
        "sha256": recording.sha256 or None,
        "fileName": recording.client_filename or None,
        "failureReason": recording.failure_reason or None,
        "createdAt": recording.created_at.isoformat(),
        "finishedAt": recording.finished_at.isoformat() if recording.finished_at else None,
        "consents": [c.as_wire() for c in recording.consents.all()],
    }
    if with_urls:
        data["urls"] = {
            role: recording_download_url(recording, role=role)
            for role in storage.ROLES
            if getattr(recording, storage.ROLES[role]).name
        }
        data["urlsExpireIn"] = settings.NETCALL_DOWNLOAD_URL_TTL
        for role in ("poster", "waveform", "thumbnails"):
            data[f"{role}Url"] = data["urls"].get(role)
        data["timelineUrl"] = (
            storage.download_url(recording.pk, role=storage.TIMELINE) if recording.is_playable else None
        )
    return data


def parse_recording_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
