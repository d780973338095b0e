"""A recording's timeline: who joined, left, muted and spoke when, the thumbnails to seek by, and (for
server recordings) the paused spans, in seconds from the recording's start.

Built when asked for, from the room events (recording/models/rooms.py, RoomEvent) and the level track the
previews job stored (recording/library/previews.py); served as JSON by a signed link and drawn by the
detail page.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from recording.library import storage
from recording.models import Recording, RoomEvent

logger = logging.getLogger(__name__)

MAX_EVENTS = 2000
LOOKBACK = timedelta(days=1)  # how far before the start a join still counts as "present at the start"


@dataclass(frozen=True)
class TimelineEvent:
    t: float  # seconds from the recording's start
    account: str
    kind: str  # join, leave, mute, unmute, camera-off, camera-on

    @property
    def label(self) -> str:
        return f"{self.account} {EVENT_LABELS[self.kind]}"

    def as_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 2), "account": self.account, "kind": self.kind}


EVENT_LABELS = {
    "join": "joined",
    "leave": "left",
    "mute": "muted the microphone",
    "unmute": "unmuted the microphone",
    "camera-off": "turned the camera off",
    "camera-on": "turned the camera on",
}


def _media_changes(before: tuple[bool | None, bool | None], event: RoomEvent) -> list[str]:
    kinds = []
    if event.audio is not None and before[0] is not None and event.audio != before[0]:
        kinds.append("unmute" if event.audio else "mute")
    if event.video is not None and before[1] is not None and event.video != before[1]:
        kinds.append("camera-on" if event.video else "camera-off")
    return kinds


def timeline_events(recording: Recording) -> tuple[list[str], list[TimelineEvent]]:
    """(who was in the channel when the recording began, what happened while it ran)."""
    start = recording.started_at or recording.created_at
    end = start + timedelta(seconds=recording.duration or 0.0)
    rows = RoomEvent.objects.filter(channel=recording.channel, at__gte=start - LOOKBACK, at__lte=end).order_by(
        "at", "id"
    )
    state: dict[str, tuple[bool | None, bool | None]] = {}
    present: dict[str, bool] = {}
    events: list[TimelineEvent] = []
    for row in rows.iterator():
        before = state.get(row.account, (None, None))
        if row.kind == RoomEvent.Kind.LEAVE:
            state.pop(row.account, None)
        else:
            state[row.account] = (
                row.audio if row.audio is not None else before[0],
                row.video if row.video is not None else before[1],
            )
        if row.at < start:
            present[row.account] = row.kind != RoomEvent.Kind.LEAVE
            continue
        t = (row.at - start).total_seconds()
        kinds = [row.kind] if row.kind != RoomEvent.Kind.MEDIA else _media_changes(before, row)
        events += [TimelineEvent(t, row.account, kind) for kind in kinds]
        if len(events) >= MAX_EVENTS:
            break
    return sorted(a for a, here in present.items() if here), events[:MAX_EVENTS]


def recording_paused_spans(recording: Recording) -> list[tuple[float, float]]:
    """Where a server recording was paused: (the point in the file, seconds paused there) for each pause.

    The session keeps its pauses in wall time (`LiveSession.record_paused`, {"start": iso, "end": iso |
    None}); the file does not contain them (it goes on where the pause began), so each becomes a point
    of the file's timeline: its wall-clock start less the pauses before it."""
    live_file = getattr(recording, "live_file", None)
    spans = getattr(getattr(live_file, "session", None), "record_paused", None) or []
    start = recording.started_at or recording.created_at
    out: list[tuple[float, float]] = []
    removed = 0.0
    for span in spans:
        try:
            a = datetime.fromisoformat(span["start"])
            b = datetime.fromisoformat(span["end"]) if span.get("end") else None
        except (KeyError, TypeError, ValueError):
            continue
        at = (a - start).total_seconds() - removed
        seconds = (b - a).total_seconds() if b else 0.0
        if at >= 0:
            out.append((at, seconds))
        removed += seconds
    return out


def recording_media_timeline(recording: Recording) -> dict[str, Any]:
    """What the previews job stored (levels, speech, thumbnail times); empty before it ran."""
    if not recording.levels_file:
        return {}
    try:
        with storage.recording_storage().open(recording.levels_file.name, "rb") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        logger.warning("Recording(%s): its level track is unreadable", recording.pk)
        return {}
    return data if isinstance(data, dict) else {}


def recording_timeline(recording: Recording, *, media: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole timeline as JSON-able data (see docs: the library's timeline)."""
    media = recording_media_timeline(recording) if media is None else media
    present, events = timeline_events(recording)
    thumbnails = media.get("thumbnails") or {}
    start = recording.started_at or recording.created_at
    return {
        "recording": str(recording.pk),
        "startedAt": start.isoformat(),
        "duration": recording.duration,
        "present": present,
        "events": [e.as_json() for e in events],
        "speaking": [
            {"account": recording.account or None, "start": a, "end": b} for a, b in media.get("speaking", [])
        ],
        "levels": {"interval": media.get("levelInterval"), "values": media.get("levels", [])},
        "thumbnails": {**thumbnails, "times": thumbnails.get("times", [])},
        "paused": [{"at": round(a, 2), "seconds": round(b, 2)} for a, b in recording_paused_spans(recording)],
    }
