"""Room state services: join, leave, liveness, media state and recording notices.

Plain synchronous functions over the database, so that every Daphne process sees the same rooms; the
consumer calls them through `database_sync_to_async`.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Greatest
from django.utils import timezone

from recording.errors import NetcallError
from recording.models import Member, RecordAnnouncement, RecordNotice, Room, RoomEvent
from recording.names import RESERVED_PREFIX

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class RoomError(NetcallError):
    """A request the room cannot satisfy."""

    status = 409


@dataclass(frozen=True)
class JoinRequest:
    """A join the consumer has validated and authorised."""

    channel: str
    account: str
    channel_name: str
    audio: bool
    video: bool
    capacity: int
    timeout: int
    record_consent: str = "allow"  # "ask": recording this member needs its consent (signalling/consent.py)


@dataclass(frozen=True)
class Replaced:
    """The connection a re-join took over from."""

    session: str
    channel_name: str


@dataclass
class JoinResult:
    member: Member
    others: list[Member]
    notices: list[RecordNotice]
    replaced: Replaced | None = None
    expired: list[Member] = field(default_factory=list)
    ended_notices: list[RecordNotice] = field(default_factory=list)
    extra: Any = None  # what a join extension added (recording/signalling/joining.py)


@dataclass
class Expiry:
    channel: str
    member: Member
    ended_notices: list[RecordNotice]


@dataclass
class Departure:
    member: Member
    ended_notices: list[RecordNotice]


def _new_session() -> str:
    return secrets.token_hex(12)


def _expire_stale(room: Room, *, timeout: int) -> tuple[list[Member], list[RecordNotice]]:
    cutoff = timezone.now() - timedelta(seconds=timeout)
    stale = list(room.members.filter(last_seen__lt=cutoff))
    ended: list[RecordNotice] = []
    removed: list[Member] = []
    for member in stale:
        notices = _remove_member(member)
        if notices is None:
            continue  # another process's sweep removed it first
        removed.append(member)
        ended += notices
        logger.info("Room(%s) expired member %s", room.name, member.account)
    return removed, ended


def room_event(*, channel: str, account: str, kind: str, audio: bool | None = None, video: bool | None = None) -> None:
    """Keep what happened for the recordings' timelines (server participants are left out)."""
    if account.startswith(RESERVED_PREFIX):
        return
    RoomEvent.objects.create(channel=channel, account=account, kind=kind, audio=audio, video=video, at=timezone.now())


def _remove_member(member: Member) -> list[RecordNotice] | None:
    """Delete the member row (this session's) and its recording notices; None if the row was gone already."""
    deleted, _ = Member.objects.filter(id=member.id, session=member.session).delete()
    if not deleted:
        return None
    room_event(channel=member.room.name, account=member.account, kind=RoomEvent.Kind.LEAVE)
    notices = list(RecordNotice.objects.filter(room_id=member.room_id, recorder=member.account))
    RecordNotice.objects.filter(id__in=[n.id for n in notices]).delete()
    return notices


def retry_on_race(function: Callable[P, R]) -> Callable[P, R]:
    """Run again (at most three times in all) when two processes created the same row at once: each attempt
    is its own transaction, so the retry sees the winner's row."""

    @functools.wraps(function)
    def retrying(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(3):
            try:
                return function(*args, **kwargs)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    return retrying


def member_add(
    *, room: Room, account: str, channel_name: str, role: str, audio: bool, video: bool, record_consent: str = "allow"
) -> Member:
    """A new member row with a fresh session (the caller checked capacity and uniqueness)."""
    now = timezone.now()
    room_event(channel=room.name, account=account, kind=RoomEvent.Kind.JOIN, audio=audio, video=video)
    return Member.objects.create(
        room=room,
        account=account,
        session=_new_session(),
        channel_name=channel_name,
        role=role,
        audio=audio,
        video=video,
        record_consent=record_consent,
        joined_at=now,
        last_seen=now,
    )


def room_join_locked(
    room: Room, join: JoinRequest, *, role: str | Callable[[], str] = Member.Role.MEMBER
) -> JoinResult:
    """Join `room` inside the caller's transaction (see `room_join`); for services that add their own rows to
    the same transaction (live broadcasting). A callable `role` is asked once silent members have expired,
    and may refuse the join by raising."""
    expired, ended = _expire_stale(room, timeout=join.timeout)
    existing = room.members.select_for_update().filter(account=join.account).first()
    if callable(role):
        role = role()
    replaced: Replaced | None = None
    if existing is not None:
        replaced = Replaced(existing.session, existing.channel_name)
        existing.session = _new_session()
        existing.channel_name = join.channel_name
        existing.audio, existing.video = join.audio, join.video
        existing.record_consent = join.record_consent
        existing.role = role
        existing.joined_at = existing.last_seen = timezone.now()
        existing.save()
        room_event(
            channel=room.name, account=join.account, kind=RoomEvent.Kind.JOIN, audio=join.audio, video=join.video
        )
        member = existing
        logger.info("Room(%s) %s re-joined, replacing session %s", room.name, join.account, replaced.session)
    else:
        if room.members.exclude(account__startswith=RESERVED_PREFIX).count() >= join.capacity:
            raise RoomError("room_full", f"the channel has reached its capacity of {join.capacity} members")
        member = member_add(
            room=room,
            account=join.account,
            channel_name=join.channel_name,
            role=role,
            audio=join.audio,
            video=join.video,
            record_consent=join.record_consent,
        )
        logger.info("Room(%s) %s joined", room.name, join.account)
    return JoinResult(member, [], [], replaced, expired, ended)


def room_members_snapshot(room: Room, result: JoinResult) -> JoinResult:
    """Fill in the other members and the recording notices, last in the join's transaction."""
    result.others = list(room.members.exclude(id=result.member.id))
    result.notices = list(room.record_notices.all())
    return result


@retry_on_race
@transaction.atomic
def room_join(join: JoinRequest, *, role: str = Member.Role.MEMBER) -> JoinResult:
    """Join (or re-join, replacing the old session) a channel, expiring its silent members first."""
    room, _ = Room.objects.get_or_create(name=join.channel)
    return room_members_snapshot(room, room_join_locked(room, join, role=role))


@transaction.atomic
def room_leave(*, session: str) -> Departure | None:
    """Remove the member with this session. None if that session was already replaced or removed."""
    member = Member.objects.select_related("room").filter(session=session).first()
    if member is None:
        return None
    ended = _remove_member(member)
    if ended is None:
        return None
    logger.info("Room(%s) %s left", member.room.name, member.account)
    return Departure(member, ended)


def _sessions_in(sessions: list[str]) -> RawSQL:
    """The sessions as one parameter, for `session__in`: Django turns a list into one parameter per item and
    resolves each of them, which at 5,000 members per process was most of the liveness statement's cost."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::text[])", [sessions])
    return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(sessions)])


def members_touch(*, sessions: list[str], at: datetime) -> list[str]:
    """Write `at` as the liveness of every member in `sessions` (never moving it back: a member that joined
    after `at` keeps its join time), in one statement.
    Returns the sessions that no longer exist (removed without their connection knowing)."""
    if not sessions:
        return []
    listed = Member.objects.filter(session__in=_sessions_in(sessions))
    touched = listed.update(last_seen=Greatest("last_seen", Value(at)))
    if touched == len(sessions):
        return []
    present = set(listed.values_list("session", flat=True))
    return [s for s in sessions if s not in present]


def members_expire(*, timeout: int) -> list[Expiry]:
    """One sweep over every room: remove the members not seen for `timeout` seconds, whichever process held
    them. Each removal is its own transaction and counts only if this sweep deleted the row, so two
    processes sweeping at once announce each departure once."""
    cutoff = timezone.now() - timedelta(seconds=timeout)
    expired: list[Expiry] = []
    for member in Member.objects.filter(last_seen__lt=cutoff).select_related("room"):
        with transaction.atomic():
            ended = _remove_member(member)
            if ended is None:
                continue
        logger.info("Room(%s) expired member %s", member.room.name, member.account)
        expired.append(Expiry(member.room.name, member, ended))
    return expired


def _expired() -> RoomError:
    return RoomError("expired", "this connection is no longer a member of the channel; join again")


def member_set_media(*, session: str, audio: bool, video: bool) -> Member:
    updated = Member.objects.filter(session=session).update(audio=audio, video=video)
    if not updated:
        raise _expired()
    member = Member.objects.select_related("room").get(session=session)
    room_event(channel=member.room.name, account=member.account, kind=RoomEvent.Kind.MEDIA, audio=audio, video=video)
    return member


def member_channel(*, room_id: int, account: str) -> tuple[str, str] | None:
    """The (channel_name, session) of a member of this room, for relaying a message to it; None if absent."""
    row = Member.objects.filter(room_id=room_id, account=account).values_list("channel_name", "session").first()
    return None if row is None else (row[0], row[1])


def record_start(*, session: str, room_id: int, recorder: str, target: str | None, kind: str) -> RecordNotice:
    """A recording notice by the member holding `session` (RoomError `expired` when it no longer does)."""
    if not Member.objects.filter(session=session).exists():
        raise _expired()
    if target is not None and not Member.objects.filter(room_id=room_id, account=target).exists():
        raise RoomError("not_in_room", f"{target!r} is not a member of this channel")
    notice, _ = RecordNotice.objects.get_or_create(
        room_id=room_id,
        recorder=recorder,
        target=target or "",
        kind=kind,
        defaults={"started_at": timezone.now()},
    )
    if target:
        # Lasting, unlike the notice: the uploads side accepts this target on the recorder's uploads.
        RecordAnnouncement.objects.update_or_create(
            channel=notice.room.name, recorder=recorder, target=target, defaults={"announced_at": notice.started_at}
        )
    return notice


def record_pause(
    *, session: str, room_id: int, recorder: str, target: str | None, kind: str, pause: bool
) -> RecordNotice:
    """Mark a recording notice paused (`pause`) or recording again; `not_recording` if there is none."""
    if not Member.objects.filter(session=session).exists():
        raise _expired()
    notice = RecordNotice.objects.filter(room_id=room_id, recorder=recorder, target=target or "", kind=kind).first()
    if notice is None:
        raise RoomError("not_recording", "no such recording is running")
    now = timezone.now()
    if pause and notice.paused_at is None:
        notice.paused_at = now
        notice.save(update_fields=["paused_at"])
    elif not pause and notice.paused_at is not None:
        notice.paused_seconds += max(0.0, (now - notice.paused_at).total_seconds())
        notice.paused_at = None
        notice.save(update_fields=["paused_at", "paused_seconds"])
    return notice


def record_stop(*, session: str, room_id: int, recorder: str, target: str | None, kind: str) -> RecordNotice:
    if not Member.objects.filter(session=session).exists():
        raise _expired()
    notice = RecordNotice.objects.filter(room_id=room_id, recorder=recorder, target=target or "", kind=kind).first()
    if notice is None:
        raise RoomError("not_recording", "no such recording is running")
    notice.delete()
    return notice
