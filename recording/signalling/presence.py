"""What one server process knows of its own connections, and the liveness task that writes it down.

Per process (per event loop: Daphne runs one; each test has its own):
- the member directory (recording/signalling/directory.py) the consumers relay with;
- the open connections, counted per client address and per token (the caps of docs/protocol.md, "Limits");
- the liveness task, started by the first connection and ending when the process has none: every
  `NETCALL_LIVENESS_INTERVAL` seconds it writes the liveness of every member that sent a frame since the
  last round in one statement, and expires the silent members of every room in one sweep (also those of a
  process that died), announcing their departure to their rooms.

A member's `last_seen` is written as the start of the round in which it was heard, never later than the
truth, so a member is expired at most `NETCALL_MEMBER_TIMEOUT` plus one interval after it last spoke (and
at the earliest one interval before the timeout).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from recording.names import room_group_name
from recording.signalling import protocol, rooms
from recording.signalling.directory import MemberDirectory

logger = logging.getLogger(__name__)


class Connection(Protocol):
    """What the liveness task needs of a consumer."""

    channel_name: str
    address: str
    heard_at: float  # time.monotonic() of the last frame from its member

    @property
    def session(self) -> str | None:
        """The member session this connection holds, None when it is not in a room."""


class Presence:
    def __init__(self) -> None:
        self.directory = MemberDirectory()
        self._connections: set[Connection] = set()
        self._per_address: Counter[str] = Counter()
        self._per_token: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Presence({len(self._connections)} connections, {self.directory.rooms()} rooms)"

    # --- connections ----------------------------------------------------------------------------------
    def connection_open(self, connection: Connection, layer: Any) -> bool:
        """Register a new connection; False (not registered) when its address has too many already."""
        cap = settings.NETCALL_MAX_CONNECTIONS_PER_ADDRESS
        if cap and self._per_address[connection.address] >= cap:
            return False
        self._connections.add(connection)
        self._per_address[connection.address] += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(layer), name="netcall-liveness")
        return True

    def connection_closed(self, connection: Connection) -> None:
        if connection in self._connections:
            self._connections.discard(connection)
            _decrement(self._per_address, connection.address)

    def token_take(self, token: str) -> bool:
        """Count a connection joining with `token`; False (not counted) when the token has too many."""
        cap = settings.NETCALL_MAX_CONNECTIONS_PER_TOKEN
        if cap and self._per_token[token] >= cap:
            return False
        self._per_token[token] += 1
        return True

    def token_release(self, token: str) -> None:
        _decrement(self._per_token, token)

    # --- the liveness task --------------------------------------------------------------------------
    async def _run(self, layer: Any) -> None:
        round_started, round_wall = time.monotonic(), timezone.now()
        while self._connections:
            await asyncio.sleep(settings.NETCALL_LIVENESS_INTERVAL)
            heard_since, heard_wall = round_started, round_wall
            round_started, round_wall = time.monotonic(), timezone.now()
            try:
                await self._liveness_round(layer, heard_since=heard_since, at=heard_wall)
            except Exception:
                logger.exception("%r: liveness round failed", self)
        self._task = None

    async def _liveness_round(self, layer: Any, *, heard_since: float, at: datetime) -> None:
        heard = {c.session: c for c in self._connections if c.session is not None and c.heard_at >= heard_since}
        if heard:
            missing = await database_sync_to_async(rooms.members_touch)(sessions=list(heard), at=at)
            for session in missing:
                # Removed without this connection being told (its room event was lost): tell it now.
                await layer.send(heard[session].channel_name, protocol.member_gone(session, reason="expired"))
        expired = await database_sync_to_async(rooms.members_expire)(timeout=settings.NETCALL_MEMBER_TIMEOUT)
        await announce_expired(layer, self.directory, expired)


async def announce_expired(layer: Any, directory: MemberDirectory, expired: Iterable[rooms.Expiry]) -> None:
    """Tell each room who expired (the expired connection too: it then stops being a member)."""
    for gone in expired:
        group = room_group_name(gone.channel)
        directory.member_left(gone.channel, gone.member.account, gone.member.session)
        for notice in gone.ended_notices:
            await layer.group_send(
                group, protocol.room_event(protocol.record_state(state="stopped", record=notice.as_wire()))
            )
        frame = protocol.member_left(account=gone.member.account, session=gone.member.session, reason="expired")
        await layer.group_send(group, protocol.room_event(frame))


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


_presences: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Presence] = weakref.WeakKeyDictionary()


def presence_here() -> Presence:
    """This process's (this event loop's) presence."""
    loop = asyncio.get_running_loop()
    presence = _presences.get(loop)
    if presence is None:
        presence = _presences[loop] = Presence()
    return presence
