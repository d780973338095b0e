"""Room state services: join, leave, liveness, media state and recording notices.

Plain synchronous functions over the database, so that every Daphne process sees the same rooms; the
consumer calls them through `database_sync_to_async`.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from recording.models import Member, RecordNotice, Room
from recording.names import RESERVED_PREFIX

if TYPE_CHECKING:
    from recording.live import LiveJoin, LiveRequest

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class RoomError(Exception):
    """A request the room cannot satisfy; `code` is the protocol's stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
    live: LiveJoin | None = None


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
    for member in stale:
        ended += _remove_member(member)
        logger.info("Room(%s) expired member %s", room.name, member.account)
    return stale, ended


def _remove_member(member: Member) -> list[RecordNotice]:
    notices = list(RecordNotice.objects.filter(room_id=member.room_id, recorder=member.account))
    RecordNotice.objects.filter(id__in=[n.id for n in notices]).delete()
    member.delete()
    return notices


def _retry_on_race(function: Callable[P, R]) -> Callable[P, R]:
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


@_retry_on_race
@transaction.atomic
def room_join(
    *,
    channel: str,
    account: str,
    channel_name: str,
    audio: bool,
    video: bool,
    capacity: int,
    timeout: int,
    live: LiveRequest | None = None,
) -> JoinResult:
    from recording import live as live_services  # imports this module

    room, _ = Room.objects.get_or_create(name=channel)
    expired, ended = _expire_stale(room, timeout=timeout)
    now = timezone.now()
    existing = room.members.select_for_update().filter(account=account).first()
    role = live_services.live_role_check(room=room, account=account, request=live)
    replaced: Replaced | None = None
    if existing is not None:
        replaced = Replaced(existing.session, existing.channel_name)
        existing.session = _new_session()
        existing.channel_name = channel_name
        existing.audio, existing.video = audio, video
        existing.role = role
        existing.joined_at = existing.last_seen = now
        existing.save()
        member = existing
        logger.info("Room(%s) %s re-joined, replacing session %s", channel, account, replaced.session)
    else:
        if room.members.exclude(account__startswith=RESERVED_PREFIX).count() >= capacity:
            raise RoomError("room_full", f"the channel has reached its capacity of {capacity} members")
        member = Member.objects.create(
            room=room,
            account=account,
            session=_new_session(),
            channel_name=channel_name,
            role=role,
            audio=audio,
            video=video,
            joined_at=now,
            last_seen=now,
        )
        logger.info("Room(%s) %s joined", channel, account)
    live_join = live_services.live_after_join(room=room, member=member, request=live, now=now)
    others = list(room.members.exclude(id=member.id))
    notices = list(room.record_notices.all())
    return JoinResult(member, others, notices, replaced, expired, ended, live_join)


@transaction.atomic
def room_leave(*, session: str) -> Departure | None:
    """Remove the member with this session. None if that session was already replaced or removed."""
    member = Member.objects.select_related("room").filter(session=session).first()
    if member is None:
        return None
    ended = _remove_member(member)
    logger.info("Room(%s) %s left", member.room.name, member.account)
    return Departure(member, ended)


@transaction.atomic
def member_touch(*, session: str, timeout: int) -> tuple[list[Member], list[RecordNotice]]:
    """Mark the member alive; expire the room's silent members. Returns those expired."""
    member = Member.objects.select_related("room").filter(session=session).first()
    if member is None:
        return [], []
    Member.objects.filter(id=member.id).update(last_seen=timezone.now())
    return _expire_stale(member.room, timeout=timeout)


def member_set_media(*, session: str, audio: bool, video: bool) -> Member:
    updated = Member.objects.filter(session=session).update(audio=audio, video=video)
    if not updated:
        raise RoomError("not_joined", "this connection is not in a room")
    return Member.objects.get(session=session)


def member_channel(*, room_id: int, account: str) -> tuple[str, str]:
    """The (channel_name, session) of a member of this room, for relaying a message to it."""
    row = Member.objects.filter(room_id=room_id, account=account).values_list("channel_name", "session").first()
    if row is None:
        raise RoomError("not_in_room", f"{account!r} is not a member of this channel")
    return row


def record_start(*, room_id: int, recorder: str, target: str | None, kind: str) -> RecordNotice:
    if target is not None and not Member.objects.filter(room_id=room_id, account=target).exists():
        raise RoomError("not_in_room", f"{target!r} is not a member of this channel")
    notice, _ = RecordNotice.objects.get_or_create(
        room_id=room_id,
        recorder=recorder,
        target=target or "",
        kind=kind,
        defaults={"started_at": timezone.now()},
    )
    return notice


def record_stop(*, room_id: int, recorder: str, target: str | None, kind: str) -> RecordNotice:
    notice = RecordNotice.objects.filter(room_id=room_id, recorder=recorder, target=target or "", kind=kind).first()
    if notice is None:
        raise RoomError("not_recording", "no such recording is running")
    notice.delete()
    return notice
