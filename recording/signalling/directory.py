"""The member directory of one process: who is in the rooms this process serves, and how to reach them.

A cache of the database, so that relaying a `signal` needs no query. It is filled from the join's snapshot
when a local connection joins a room, and kept current by the room events the process receives anyway
(`member.joined` carries the member's channel name beside its frame, `member.left` names the session that
went). A room is forgotten when its last local member goes: without a local member no events arrive for
it, so its entries could not be trusted.

Events about one account can reach this process out of order (two processes announce them, and each local
connection of the room delivers them again). So an entry is only replaced by a later join (`joinedAt`), and
a session that left is remembered for a while, so that a late `member.joined` of it is ignored.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

GONE_REMEMBERED = 50_000  # sessions that left, remembered to ignore their late joins


@dataclass(frozen=True)
class Route:
    """How to reach a member: its current session and the channel-layer name of its connection."""

    session: str
    channel_name: str
    joined_at: str  # ISO 8601 in UTC (the member's `joinedAt`); later joins sort later


@dataclass
class _Room:
    members: dict[str, Route] = field(default_factory=dict)  # account -> route
    local: set[str] = field(default_factory=set)  # sessions of this process's connections


class MemberDirectory:
    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}
        self._gone: OrderedDict[str, None] = OrderedDict()

    def __repr__(self) -> str:
        return f"MemberDirectory({len(self._rooms)} rooms)"

    def route(self, channel: str, account: str) -> Route | None:
        room = self._rooms.get(channel)
        return None if room is None else room.members.get(account)

    def rooms(self) -> int:
        return len(self._rooms)

    # --- local connections -------------------------------------------------------------------------------
    def local_join(self, channel: str, account: str, route: Route, others: dict[str, Route]) -> None:
        """A connection of this process joined: record it and the room's snapshot taken by its join."""
        room = self._rooms.setdefault(channel, _Room())
        room.local.add(route.session)
        for other, other_route in others.items():
            self._apply_join(room, other, other_route)
        self._apply_join(room, account, route)

    def local_leave(self, channel: str, account: str, session: str) -> None:
        """A connection of this process is no longer the member with `session` (left, lost or replaced)."""
        room = self._rooms.get(channel)
        if room is None:
            return
        room.local.discard(session)
        self._apply_leave(room, account, session)
        if not room.local:
            del self._rooms[channel]

    # --- room events --------------------------------------------------------------------------------------
    def member_joined(self, channel: str, account: str, route: Route) -> None:
        room = self._rooms.get(channel)
        if room is not None:
            self._apply_join(room, account, route)

    def member_left(self, channel: str, account: str, session: str) -> None:
        room = self._rooms.get(channel)
        if room is not None:
            self._apply_leave(room, account, session)

    # --- internals ----------------------------------------------------------------------------------------
    def _apply_join(self, room: _Room, account: str, route: Route) -> None:
        if route.session in self._gone:
            return
        known = room.members.get(account)
        if known is None or known.joined_at <= route.joined_at:
            room.members[account] = route

    def _apply_leave(self, room: _Room, account: str, session: str) -> None:
        self._gone[session] = None
        if len(self._gone) > GONE_REMEMBERED:
            self._gone.popitem(last=False)
        known = room.members.get(account)
        if known is not None and known.session == session:
            del room.members[account]
