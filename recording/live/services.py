"""Live broadcasting services: who is host or co-host, the live session and its server recorder member.

Plain synchronous functions over the database (the consumer and the recorder worker call them through
`database_sync_to_async`). The media side lives in `recording.media`; this module never imports it.

Roles in a channel (see docs/live.md):
- **host**: joined with `live.liveEnable` and `live.rtmpUrl`; one per channel. Starts a live session.
- **co-host** (连麦者): joined with `liveEnable` and no `rtmpUrl`; mixed into the broadcast.
- **member**: joined without `liveEnable`; in the call (mesh) but not in the broadcast or its recording.
- **recorder**: the server participant `#recorder`, present while a live session runs.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recording.models import Member, Recording, Room
from recording.models.live import LiveFile, LiveSession
from recording.net import TargetRefused, target_addresses
from recording.signalling.rooms import (
    Departure,
    JoinRequest,
    JoinResult,
    RoomError,
    member_add,
    retry_on_race,
    room_join_locked,
    room_leave,
    room_members_snapshot,
)

logger = logging.getLogger(__name__)

RECORDER_ACCOUNT = "#recorder"
# The named channel recorder workers listen on (`manage.py runworker netcall-recorder`).
RECORDER_CHANNEL = "netcall-recorder"
MAX_RTMP_URL_LENGTH = 1024
RTMP_SCHEMES = ("rtmp", "rtmps")
RTMP_DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}


@dataclass(frozen=True)
class LiveRequest:
    """A validated `live` object of a join request."""

    role: str  # Member.Role.HOST or Member.Role.COHOST
    rtmp_url: str | None
    record: bool


@dataclass(frozen=True)
class LiveJoin:
    """What a live join changed besides the member itself."""

    session: LiveSession | None = None
    started: bool = False
    recorder: Member | None = None


def _rtmp_url_check(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_RTMP_URL_LENGTH:
        raise RoomError(
            "bad_rtmp_url", f"'rtmpUrl' must be an rtmp:// or rtmps:// URL of at most {MAX_RTMP_URL_LENGTH}"
        )
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise RoomError("bad_rtmp_url", "'rtmpUrl' must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number in range)
    except ValueError:
        raise RoomError("bad_rtmp_url", "'rtmpUrl' is not a valid URL") from None
    if parts.scheme.lower() not in RTMP_SCHEMES or not parts.hostname:
        raise RoomError("bad_rtmp_url", "'rtmpUrl' must be an rtmp:// or rtmps:// URL with a host")
    return value


def rtmp_endpoint(url: str) -> tuple[str, int]:
    """(host, port) an rtmp:// or rtmps:// URL connects to."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or RTMP_DEFAULT_PORTS[parts.scheme.lower()]


def rtmp_target_check(url: str) -> None:
    """Refuse a push target that resolves to a non-public address (recording/net.py), unless listed in
    NETCALL_LIVE_RTMP_ALLOWED_HOSTS. Resolves the name: call it off the event loop. The host is told a
    generic code only; what was refused goes to the log."""
    host, port = rtmp_endpoint(url)
    try:
        target_addresses(host, port, allowed_hosts=settings.NETCALL_LIVE_RTMP_ALLOWED_HOSTS)
    except TargetRefused as exc:
        logger.warning("Refused RTMP target %r: %s", host, exc)
        raise RoomError("bad_rtmp_url", "pushing to this address is not allowed on this server") from None


def live_request_parse(value: object, *, may_host: bool, may_record: bool) -> LiveRequest | None:
    """Validate a join's `live` object `{liveEnable, rtmpUrl, rtmpRecord}`; None when not live."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RoomError("bad_message", "field 'live' must be an object")
    enable, url, record = value.get("liveEnable", False), value.get("rtmpUrl"), value.get("rtmpRecord", False)
    if not isinstance(enable, bool) or not isinstance(record, bool):
        raise RoomError("bad_message", "'liveEnable' and 'rtmpRecord' must be booleans")
    if url == "":
        url = None
    if not enable:
        if url is not None or record:
            raise RoomError("live_not_enabled", "'rtmpUrl' and 'rtmpRecord' need 'liveEnable': true")
        return None
    if url is None:
        # A co-host's rtmpRecord is ignored: the host's join decides whether the session is recorded.
        return LiveRequest(role=Member.Role.COHOST, rtmp_url=None, record=False)
    url = _rtmp_url_check(url)
    if not may_host:
        raise RoomError("forbidden", "the token does not grant 'live' (needed to host a broadcast with rtmpUrl)")
    if record and not may_record:
        raise RoomError("forbidden", "the token does not grant 'record' (needed for rtmpRecord)")
    return LiveRequest(role=Member.Role.HOST, rtmp_url=url, record=record)


def _active_session(room: Room) -> LiveSession | None:
    return LiveSession.objects.filter(room=room, status__in=LiveSession.ACTIVE_STATUSES).first()


def live_role_check(*, room: Room, account: str, request: LiveRequest | None) -> str:
    """The role this join gets; RoomError when the channel already has another host. In the join's
    transaction, before the member row is written."""
    if request is None:
        return Member.Role.MEMBER
    if request.role != Member.Role.HOST:
        return request.role
    session = _active_session(room)
    other_host = room.members.filter(role=Member.Role.HOST).exclude(account=account).first()
    if (session is not None and session.host != account) or other_host is not None:
        if session is not None and session.rtmp_url == request.rtmp_url:
            raise RoomError(
                "live_cohost_rtmp",
                f"{session.host!r} is this channel's host and pushes to that URL; co-hosts join without 'rtmpUrl'",
            )
        raise RoomError("live_host_exists", "this channel already has a live host; join as a co-host")
    if session is None:
        _live_quota_check(account)
    return Member.Role.HOST


def _live_quota_check(account: str) -> None:
    """A host's join that would start a session: at most NETCALL_LIVE_MAX_SESSIONS_PER_ACCOUNT running."""
    limit = settings.NETCALL_LIVE_MAX_SESSIONS_PER_ACCOUNT
    running = LiveSession.objects.filter(host=account, status__in=LiveSession.ACTIVE_STATUSES).count()
    if running >= limit:
        raise RoomError(
            "live_quota", f"an account may host at most {limit} live session(s) at once; end the other first"
        )


def live_after_join(*, room: Room, member: Member, request: LiveRequest | None, now: datetime) -> LiveJoin:
    """In the join's transaction: a host's join starts a live session (a host re-joining keeps its own)."""
    if request is None or request.role != Member.Role.HOST:
        return LiveJoin(session=_active_session(room))
    session = _active_session(room)
    if session is not None:
        return LiveJoin(session=session)
    # A recorder left behind by a session whose worker died: its session is recovered by the job runner.
    room.members.filter(account=RECORDER_ACCOUNT).delete()
    recorder = member_add(
        room=room,
        account=RECORDER_ACCOUNT,
        channel_name=f"{RECORDER_CHANNEL}.{uuid.uuid4().hex}",
        role=Member.Role.RECORDER,
        audio=False,
        video=False,
    )
    session = LiveSession.objects.create(
        room=room,
        channel=room.name,
        host=member.account,
        rtmp_url=request.rtmp_url or "",
        record=request.record,
        worker_channel=recorder.channel_name,
        recorder_session=recorder.session,
        heartbeat_at=now,
    )
    logger.info(
        "LiveSession(%s) created in %s by %s (record=%s)", session.id, room.name, member.account, session.record
    )
    return LiveJoin(session=session, started=True, recorder=recorder)


@retry_on_race
@transaction.atomic
def live_join(*, join: JoinRequest, request: LiveRequest | None) -> JoinResult:
    """Every join of a channel where live broadcasting may happen: the room join with the role the live
    request asks for (checked once silent members expired), then the live session a host's join starts.
    `result.extra` is the LiveJoin."""
    room, _ = Room.objects.get_or_create(name=join.channel)
    result = room_join_locked(
        room, join, role=lambda: live_role_check(room=room, account=join.account, request=request)
    )
    result.extra = live_after_join(room=room, member=result.member, request=request, now=result.member.joined_at)
    return room_members_snapshot(room, result)


def live_ack(member: Member, live: LiveJoin) -> dict[str, Any] | None:
    """The `live` part of a join ack, for members of a channel with a live session or live members."""
    session = live.session
    if member.role not in Member.LIVE_ROLES and session is None:
        return None
    return {
        "role": member.role,
        "session": str(session.id) if session else None,
        "host": session.host if session else None,
        "record": session.record if session else False,
        "recorder": RECORDER_ACCOUNT if session else None,
    }


# --- the recorder worker's side -------------------------------------------------------------------


def live_claim(*, session_id: str) -> LiveSession | None:
    """A worker takes a starting session; None if another worker has it or it is over."""
    now = timezone.now()
    claimed = LiveSession.objects.filter(pk=session_id, status=LiveSession.Status.STARTING).update(
        status=LiveSession.Status.LIVE, heartbeat_at=now
    )
    if not claimed:
        return None
    return LiveSession.objects.select_related("room").get(pk=session_id)


def live_heartbeat(*, session_id: str, recorder_session: str) -> bool:
    """Keep the session and its recorder member alive; False when the session is no longer this worker's."""
    now = timezone.now()
    alive = LiveSession.objects.filter(pk=session_id, status=LiveSession.Status.LIVE).update(heartbeat_at=now)
    Member.objects.filter(session=recorder_session).update(last_seen=now)
    return bool(alive)


def live_mark_started(*, session_id: str) -> None:
    LiveSession.objects.filter(pk=session_id, started_at__isnull=True).update(started_at=timezone.now())


def live_members(*, room_id: int) -> list[Member]:
    return list(Member.objects.filter(room_id=room_id))


def live_record_pause_target(*, room_id: int, account: str) -> str:
    """The worker channel of the recorded live session `account` hosts in this room, for its
    pauseLiveRecord() / resumeLiveRecord(); RoomError `live_not_recording` when there is none."""
    session = LiveSession.objects.filter(
        room_id=room_id, host=account, record=True, status__in=LiveSession.ACTIVE_STATUSES
    ).first()
    if session is None:
        raise RoomError("live_not_recording", "you host no live session that records on the server")
    return session.worker_channel


def live_record_mark_paused(*, session_id: str, paused: bool, at: datetime | None = None) -> list[dict[str, Any]]:
    """Note a pause (an interval opens) or a resume (it closes) of the session's recording; the intervals."""
    at = at or timezone.now()
    with transaction.atomic():
        session = LiveSession.objects.select_for_update().get(pk=session_id)
        intervals: list[dict[str, Any]] = list(session.record_paused or [])
        open_interval = bool(intervals) and intervals[-1].get("end") is None
        if paused and not open_interval:
            intervals.append({"start": at.isoformat(), "end": None})
        elif not paused and open_interval:
            intervals[-1] = {**intervals[-1], "end": at.isoformat()}
        session.record_paused = intervals
        session.save(update_fields=["record_paused"])
    return intervals


def live_set_push_state(*, session_id: str, state: str, error: str = "") -> None:
    LiveSession.objects.filter(pk=session_id).update(push_state=state, push_error=error[:2000])


def live_file_open(
    *,
    session_id: str,
    recording_id: str,
    track: str,
    account: str,
    spool_name: str,
    started_at: datetime,
    container: str,
    mime_type: str,
    codec: str = "",
    segment: int = 0,
) -> LiveFile:
    """Register a file the recorder started writing, so that a crash leaves it findable."""
    session = LiveSession.objects.get(pk=session_id)
    with transaction.atomic():
        recording = Recording.objects.create(
            id=recording_id,
            channel=session.channel,
            account=account,
            recorder="",
            kind=Recording.Kind.SERVER,
            status=Recording.Status.RECORDING,
            mime_type=mime_type,
            container=container,
            created_at=started_at,
            transcode_requested=settings.NETCALL_TRANSCODE and track != LiveFile.Track.COMPOSITE,
        )
        return LiveFile.objects.create(
            session=session,
            recording=recording,
            track=track,
            account=account,
            segment=segment,
            codec=codec,
            spool_name=spool_name,
            started_at=started_at,
        )


@dataclass(frozen=True)
class FileOutcome:
    """What the recorder knows at the end about one expected member track (see live_files_account)."""

    track: str
    account: str
    reason: str = ""  # "" when the file is complete
    detail: str = ""
    sender_starts: tuple[float | None, ...] = ()  # per segment, in order


def live_files_account(*, session_id: str, outcomes: list[FileOutcome]) -> None:
    """At the end of a session: a reason on each file that ended early, a row with the reason for each
    expected file that was never written, each segment's start on the sender's clock."""
    session = LiveSession.objects.get(pk=session_id)
    for outcome in outcomes:
        files = list(session.files.filter(track=outcome.track, account=outcome.account).order_by("segment"))
        if not files:
            LiveFile.objects.get_or_create(
                session=session,
                track=outcome.track,
                account=outcome.account,
                segment=0,
                defaults={"reason": outcome.reason[:32], "detail": outcome.detail[:200], "spool_name": ""},
            )
            continue
        for index, live_file in enumerate(files):
            fields: dict[str, Any] = {}
            if index < len(outcome.sender_starts) and outcome.sender_starts[index] is not None:
                fields["sender_start"] = outcome.sender_starts[index]
            if outcome.reason and index == len(files) - 1 and not live_file.reason:
                fields.update(reason=outcome.reason[:32], detail=outcome.detail[:200])
            if fields:
                LiveFile.objects.filter(pk=live_file.pk).update(**fields)


def live_file_failed(*, session_id: str, track: str, account: str, reason: str, detail: str) -> None:
    """A file's writer failed mid-session: its last segment keeps what was written, with the reason."""
    last = LiveFile.objects.filter(session__pk=session_id, track=track, account=account).order_by("-segment").first()
    if last is not None:
        LiveFile.objects.filter(pk=last.pk).update(reason=reason[:32], detail=detail[:200])


def live_end(*, session_id: str, reason: str, ended_at: datetime | None = None) -> Departure | None:
    """The recorder stopped (at `ended_at`): the session goes to `finishing`, `#recorder` leaves the room.

    Returns the recorder's departure (to announce), None if it had already gone."""
    now = ended_at or timezone.now()
    session = LiveSession.objects.get(pk=session_id)
    LiveSession.objects.filter(pk=session_id, status__in=LiveSession.ACTIVE_STATUSES).update(
        status=LiveSession.Status.FINISHING, ended_at=now, end_reason=reason[:32]
    )
    LiveFile.objects.filter(session=session, ended_at__isnull=True).update(ended_at=now)
    Recording.objects.filter(live_file__session=session, status=Recording.Status.RECORDING).update(
        status=Recording.Status.FINISHING
    )
    logger.info("LiveSession(%s) ended: %s", session_id, reason)
    return room_leave(session=session.recorder_session)


def live_stale_sessions(*, now: datetime | None = None) -> list[LiveSession]:
    """Active sessions whose worker stopped sending heartbeats (killed, or never started)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.NETCALL_LIVE_STALE_SECONDS)
    return list(LiveSession.objects.filter(status__in=LiveSession.ACTIVE_STATUSES, heartbeat_at__lt=cutoff))


def live_take_over_stale(*, session: LiveSession) -> bool:
    """Mark a stale session as finishing (compare-and-swap on its heartbeat): True for the one runner
    that wins and must recover its files."""
    now = timezone.now()
    taken = LiveSession.objects.filter(pk=session.pk, status=session.status, heartbeat_at=session.heartbeat_at).update(
        status=LiveSession.Status.FINISHING, ended_at=now, end_reason="recorder_lost"
    )
    if taken:
        LiveFile.objects.filter(session_id=session.pk, ended_at__isnull=True).update(ended_at=now)
        logger.warning("LiveSession(%s) lost its recorder; recovering what it recorded", session.pk)
    return bool(taken)
