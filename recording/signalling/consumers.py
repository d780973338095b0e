"""The signalling consumer: parse, validate, authorise, call the room services, send. Nothing else."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from recording.errors import NetcallError
from recording.models import Member, RecordNotice
from recording.names import room_group_name
from recording.signalling import joining, protocol, rooms
from recording.signalling.protocol import RECORD_KINDS, ProtocolError, Request, ack, error, request_parse
from recording.signalling.ratelimit import TokenBucket
from recording.tokens import JoinToken, TokenError, token_revoked, token_verify

logger = logging.getLogger(__name__)

CLOSE_REPLACED = 4009

Handler = Callable[["NetcallConsumer", Request], Awaitable[dict[str, Any] | None]]


class NetcallConsumer(AsyncWebsocketConsumer):
    token: JoinToken | None = None
    member: Member | None = None
    touched_at = float("-inf")  # when a ping last wrote this member's liveness (time.monotonic())

    async def connect(self) -> None:
        self.bucket = TokenBucket(settings.NETCALL_MAX_MESSAGES_PER_SECOND)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self._leave(reason="disconnected")

    # --- inbound frames -------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        request: Request | None = None
        try:
            if not self.bucket.take():
                raise ProtocolError("rate_limited", "too many messages; slow down")
            request = request_parse(text_data, max_bytes=settings.NETCALL_MAX_MESSAGE_BYTES, types=HANDLERS)
            if request.type not in ("join", "ping") and self.member is None:
                raise ProtocolError("not_joined", "join a channel first", request.id)
            data = await HANDLERS[request.type](self, request)
            await self._send(ack(request.id, data))
        except NetcallError as exc:
            request_id = getattr(exc, "request_id", None) or (request.id if request else None)
            await self._send(error(exc.code, exc.message, request_id))
        except Exception:
            logger.exception("Consumer(%s) failed on a %s frame", self.channel_name, request and request.type)
            await self._send(error("internal", "internal server error", request.id if request else None))

    async def _join(self, request: Request) -> dict[str, Any]:
        if self.member is not None:
            raise ProtocolError("already_joined", "this connection is already in a channel; leave first", request.id)
        token = token_verify(request.body.get("token"))
        if await database_sync_to_async(token_revoked)(token):
            raise TokenError("token_revoked", "the token has been revoked")
        channel = request.name_field("channel")
        if token.channel != channel:
            raise ProtocolError("token_wrong_channel", "the token is bound to another channel", request.id)
        claimed = request.body.get("account")
        if claimed is not None and claimed != token.account:
            # The page would believe it is `claimed` while everyone else sees the token's account.
            raise ProtocolError("token_wrong_account", "the token is bound to another account", request.id)
        if not token.allows("publish"):
            raise ProtocolError("forbidden", "the token does not grant 'publish'", request.id)
        media = request.body.get("media", {"audio": True, "video": True})
        if not isinstance(media, dict):
            raise ProtocolError("bad_message", "field 'media' must be an object", request.id)
        extension = joining.join_extension()
        parsed = extension.parse(request.body.get(extension.field), token) if extension else None
        join = rooms.JoinRequest(
            channel=token.channel,
            account=token.account,
            channel_name=self.channel_name,
            audio=bool(media.get("audio", True)),
            video=bool(media.get("video", True)),
            capacity=settings.NETCALL_ROOM_CAPACITY,
            timeout=settings.NETCALL_MEMBER_TIMEOUT,
        )
        result = await database_sync_to_async(extension.join if extension else joining.join_plain)(join, parsed)
        self.token, self.member = token, result.member
        self.group = room_group_name(token.channel)
        await self.channel_layer.group_add(self.group, self.channel_name)
        if result.replaced is not None:
            await self.channel_layer.send(
                result.replaced.channel_name, protocol.member_replaced(result.replaced.session)
            )
        await self._announce_departures(result.expired, result.ended_notices, reason="expired")
        await self._broadcast(protocol.member_joined(result.member.as_wire()))
        data: dict[str, Any] = {
            "self": result.member.as_wire(),
            "members": [m.as_wire() for m in result.others],
            "recordings": [n.as_wire() for n in result.notices],
            "iceServers": settings.NETCALL_ICE_SERVERS,
        }
        if extension is not None:
            data |= await extension.joined(result, layer=self.channel_layer, broadcast=self._broadcast)
        return data

    async def _leave_request(self, request: Request) -> dict[str, Any]:
        await self._leave(reason="left")
        return {}

    async def _signal(self, request: Request) -> dict[str, Any]:
        member = self._joined()
        target = request.name_field("to")
        data = request.field("data", dict)
        to_session = request.field("toSession", str, required=False)
        addressee = await database_sync_to_async(rooms.member_channel)(room_id=member.room_id, account=target)
        if addressee is None:
            raise rooms.RoomError("not_in_room", f"{target!r} is not a member of this channel")
        channel_name, session = addressee
        if to_session is not None and to_session != session:
            # Meant for a connection of `target` that has since been replaced (a re-join): drop it, or the new
            # connection would get an answer to an offer it never made.
            raise ProtocolError("stale_session", f"{target!r} has re-joined since; this signal is outdated", request.id)
        frame = protocol.signal(sender=member.account, sender_session=member.session, data=data, to_session=session)
        await self.channel_layer.send(channel_name, protocol.member_signal(frame))
        return {}

    async def _media(self, request: Request) -> dict[str, Any]:
        member = self._joined()
        audio = request.field("audio", bool)
        video = request.field("video", bool)
        self.member = await database_sync_to_async(rooms.member_set_media)(
            session=member.session, audio=audio, video=video
        )
        wire = self.member.as_wire()
        await self._broadcast(protocol.member_updated(wire))
        return {"self": wire}

    async def _record(self, request: Request) -> dict[str, Any]:
        member = self._joined()
        assert self.token is not None
        kind = request.field("kind", str)
        if kind not in RECORD_KINDS:
            raise ProtocolError("bad_message", "field 'kind' must be 'mp4' or 'aac'", request.id)
        target = request.name_field("target", required=kind == "mp4") if kind == "mp4" else None
        if request.type == "record.start":
            if not self.token.allows("record"):
                raise ProtocolError("forbidden", "the token does not grant 'record'", request.id)
            notice = await database_sync_to_async(rooms.record_start)(
                room_id=member.room_id, recorder=member.account, target=target, kind=kind
            )
            await self._broadcast(protocol.record_state(state="started", record=notice.as_wire()))
            return {"record": notice.as_wire()}
        notice = await database_sync_to_async(rooms.record_stop)(
            room_id=member.room_id, recorder=member.account, target=target, kind=kind
        )
        await self._broadcast(protocol.record_state(state="stopped", record=notice.as_wire()))
        return {}

    async def _ping(self, request: Request) -> dict[str, Any]:
        # Liveness is written at most every third of the timeout (the SDK pings every 10 s: every other
        # ping), which still keeps a live member's row well inside the timeout: most of an idle member's
        # cost is this write (docs/performance.md, "Signalling").
        now = time.monotonic()
        if self.member is not None and now - self.touched_at >= settings.NETCALL_MEMBER_TIMEOUT / 3:
            self.touched_at = now
            expired, ended = await database_sync_to_async(rooms.member_touch)(
                session=self.member.session, timeout=settings.NETCALL_MEMBER_TIMEOUT
            )
            await self._announce_departures(expired, ended, reason="expired", include_self=True)
        return {"time": time.time()}

    # --- room events from the channel layer -----------------------------------------------------
    async def room_event(self, event: dict[str, Any]) -> None:
        if self.member is not None and event.get("exclude") != self.member.session:
            await self._send(event["frame"])

    async def member_signal(self, event: dict[str, Any]) -> None:
        if self.member is not None:
            await self._send(event["frame"])

    async def member_replaced(self, event: dict[str, Any]) -> None:
        if self.member is None or self.member.session != event["session"]:
            return
        await self._send(error("replaced", "this account joined the channel from another connection"))
        # Forget the membership first, so that disconnect() does not remove the new session.
        await self.channel_layer.group_discard(self.group, self.channel_name)
        self.member = None
        await self.close(code=CLOSE_REPLACED)

    # --- helpers --------------------------------------------------------------------------------
    def _joined(self) -> Member:
        if self.member is None:
            raise ProtocolError("not_joined", "join a channel first")
        return self.member

    async def _leave(self, *, reason: str) -> None:
        if self.member is None:
            return
        member, self.member = self.member, None
        departure = await database_sync_to_async(rooms.room_leave)(session=member.session)
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if departure is not None:
            await self._announce_departures([departure.member], departure.ended_notices, reason=reason)

    async def _announce_departures(
        self, members: list[Member], notices: list[RecordNotice], *, reason: str, include_self: bool = False
    ) -> None:
        for notice in notices:
            frame = protocol.record_state(state="stopped", record=notice.as_wire())
            await self._broadcast(frame, include_self=include_self)
        for member in members:
            frame = protocol.member_left(account=member.account, session=member.session, reason=reason)
            await self._broadcast(frame, include_self=include_self)

    async def _broadcast(self, frame: dict[str, Any], *, include_self: bool = False) -> None:
        exclude = self.member.session if self.member is not None and not include_self else None
        await self.channel_layer.group_send(self.group, protocol.room_event(frame, exclude=exclude))

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))


HANDLERS: dict[str, Handler] = {
    "join": NetcallConsumer._join,
    "leave": NetcallConsumer._leave_request,
    "signal": NetcallConsumer._signal,
    "media": NetcallConsumer._media,
    "record.start": NetcallConsumer._record,
    "record.stop": NetcallConsumer._record,
    "ping": NetcallConsumer._ping,
}
