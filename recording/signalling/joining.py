"""How another concern takes part in every join without signalling knowing it.

Live broadcasting (recording/live/joining.py) registers a `JoinExtension` when the app is ready: it reads
its own field of the join request, runs the join in one transaction with its own rows, and adds to the
ack. Without one, a join is `rooms.room_join`. Signalling never imports live, uploads or library.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from recording.models import Member
from recording.signalling import rooms
from recording.signalling.rooms import JoinRequest
from recording.tokens import JoinToken


class Broadcast(Protocol):
    def __call__(self, frame: dict[str, Any], *, member: Member | None = None) -> Awaitable[None]:
        """Send `frame` to the room; `member`: the member a `member.joined` announces (its route goes along,
        for the member directories)."""


class JoinExtension(Protocol):
    field: str  # the join request's field it reads

    def parse(self, value: object, token: JoinToken) -> object:
        """Validate the field (None when absent); raise a NetcallError to refuse the join."""

    def join(self, request: JoinRequest, parsed: object) -> rooms.JoinResult:
        """Join in one transaction (synchronous, in the database thread); `extra` carries its own result."""

    async def joined(self, result: rooms.JoinResult, *, layer: Any, broadcast: Broadcast) -> dict[str, Any]:
        """After the member was announced: announce or start what the join created; ack additions."""

    async def record_pause(self, member: Member, *, pause: bool, layer: Any) -> dict[str, Any]:
        """`live.pause` / `live.resume` from `member` (the host pausing the server's recording): the ack's data."""


_extension: JoinExtension | None = None


def join_extension_register(extension: JoinExtension) -> None:
    global _extension
    _extension = extension


def join_extension() -> JoinExtension | None:
    return _extension


def join_plain(request: JoinRequest, parsed: object = None) -> rooms.JoinResult:
    return rooms.room_join(request)
