"""The signalling consumer: parse, validate, authorise, call the room services, send. Nothing else.

The steady state touches no database: a `signal` is relayed through this process's member directory and a
`ping` only notes that the member was heard (the liveness task of presence.py writes it down in batches).
Joins, leaves, media changes and recording notices go to the database, the durable record.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from recording.errors import NetcallError
from recording.models import Member, RecordNotice
from recording.names import room_group_name
from recording.signalling import consent, joining, protocol, rooms
from recording.signalling.directory import Route
from recording.signalling.presence import Presence, presence_here
from recording.signalling.protocol import (
    CLOSE_JOIN_TIMEOUT,
    CLOSE_POLICY,
    CLOSE_REPLACED,
    RECORD_KINDS,
    ProtocolError,
    Request,
    ack,
    error,
    request_parse,
)
from recording.signalling.ratelimit import Strikes, TokenBucket
from recording.tokens import JoinToken, TokenError, token_revoked, token_verify

logger = logging.getLogger(__name__)

Handler = Callable[["NetcallConsumer", Request], Awaitable[dict[str, Any] | None]]

LOST_MESSAGES = {
    "expired": "this connection is no longer a member of the channel (not heard from in time); join again",
}


def _route(member: Member) -> Route:
    return Route(member.session, member.channel_name, member.joined_at.isoformat())


class NetcallConsumer(AsyncWebsocketConsumer):
    token: JoinToken | None = None
    member: Member | None = None
    group = ""
    address = ""
    heard_at = float("-inf")  # time.monotonic() of the member's last frame (for the liveness task)
    lost: str | None = None  # why this connection stopped being a member ("expired"), until it joins again
    closing = False
    _joining = False
    _token_counted: str | None = None
    _deadline: asyncio.TimerHandle | None = None
    _deadline_task: asyncio.Task[None] | None = None

    @property
    def session(self) -> str | None:
        return self.member.session if self.member is not None else None

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Any
    ) -> None:
        """Channels' `AsyncConsumer.__call__` with a leaner loop. Channels waits for the next message of the
        socket or the channel layer with `asyncio.wait` over two tasks and starts a new task for every
        message: at 10,000 idle members (a ping each every 10 s) that machinery cost about as much as
        everything else the consumer does. Here one long-lived task reads the channel layer and this one
        reads the socket; a lock keeps Channels' guarantee that a consumer handles one message at a time
        (a room event that arrives while `join` waits for the database is handled after it)."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        one_at_a_time = asyncio.Lock()
        layer = asyncio.create_task(self._dispatch_from_layer(one_at_a_time), name=f"{self.channel_name} layer")
        try:
            while True:
                message = await receive()
                async with one_at_a_time:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            layer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await layer

    async def _dispatch_from_layer(self, one_at_a_time: asyncio.Lock) -> None:
        try:
            while True:
                message = await self.channel_receive()
                async with one_at_a_time:
                    await self.dispatch(message)
        except Exception:
            # Under Channels' loop the failure would end the consumer: close the socket (1011, as the server
            # does for a failing application) so the client reconnects instead of missing its room's events.
            logger.exception("Consumer(%s) failed on a channel-layer message: closing", self.channel_name)
            with contextlib.suppress(Exception):
                await self.base_send({"type": "websocket.close", "code": 1011})

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' `AsyncConsumer.dispatch` without its `aclose_old_connections()`: that sends every message
        (each frame from the client, each room event to each member) through the single database thread to
        close stale connections, a thread round trip per message even when the handler touches no database.
        Every database call of this consumer runs in `database_sync_to_async`, which closes stale
        connections itself before and after."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.presence: Presence = presence_here()
        self.bucket = TokenBucket(settings.NETCALL_MAX_MESSAGES_PER_SECOND)
        byte_rate = settings.NETCALL_SIGNAL_BYTES_PER_SECOND
        self.signal_bytes = TokenBucket(byte_rate, burst=max(byte_rate, settings.NETCALL_MAX_MESSAGE_BYTES))
        self.strikes = Strikes(settings.NETCALL_RATE_LIMIT_STRIKES, settings.NETCALL_RATE_LIMIT_STRIKE_SECONDS)
        client = self.scope.get("client")
        self.address = str(client[0]) if client else ""
        await self.accept()
        if not self.presence.connection_open(self, self.channel_layer):
            await self._send(error("too_many_connections", "too many open connections from this address"))
            await self._close(CLOSE_POLICY)
            return
        self._arm_join_deadline()

    async def disconnect(self, code: int) -> None:
        self.closing = True
        self._disarm_join_deadline()
        self.presence.connection_closed(self)
        await self._leave(reason="disconnected")
        if self._token_counted is not None:
            self.presence.token_release(self._token_counted)
            self._token_counted = None

    # --- inbound frames -------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        request: Request | None = None
        try:
            if not self.bucket.take():
                raise ProtocolError("rate_limited", "too many messages; slow down")
            request = request_parse(text_data, max_bytes=settings.NETCALL_MAX_MESSAGE_BYTES, types=HANDLERS)
            if request.type == "signal" and not self.signal_bytes.take(request.size):
                raise ProtocolError("rate_limited", "too many signal bytes per second; slow down", request.id)
            if self.lost is not None and request.type != "join":
                raise ProtocolError(self.lost, LOST_MESSAGES[self.lost], request.id)
            if request.type not in ("join", "ping") and self.member is None:
                raise ProtocolError("not_joined", "join a channel first", request.id)
            if self.member is not None:
                self.heard_at = time.monotonic()
            data = await HANDLERS[request.type](self, request)
            await self._send(ack(request.id, data))
        except NetcallError as exc:
            request_id = getattr(exc, "request_id", None) or (request.id if request else None)
            await self._send(error(exc.code, exc.message, request_id))
            await self._after_refusal(exc)
        except Exception:
            logger.exception("Consumer(%s) failed on a %s frame", self.channel_name, request and request.type)
            await self._send(error("internal", "internal server error", request.id if request else None))

    async def _after_refusal(self, exc: NetcallError) -> None:
        close_code = getattr(exc, "close_code", None)
        if close_code is None and exc.code == "rate_limited" and self.strikes.add():
            logger.warning(
                "Consumer(%s) from %s keeps exceeding the rate limit: closing", self.channel_name, self.address
            )
            await self._send(error("rate_limit_abuse", "refused too often for exceeding the rate limit; closing"))
            close_code = CLOSE_POLICY
        if close_code is not None:
            await self._close(close_code)
        elif exc.code == "expired" and self.member is not None:
            # The database no longer has this member (expired elsewhere; its room event is still on the way).
            await self._lose("expired")

    async def _join(self, request: Request) -> dict[str, Any]:
        if self.member is not None:
            raise ProtocolError("already_joined", "this connection is already in a channel; leave first", request.id)
        raw_token = request.body.get("token")
        token = token_verify(raw_token)
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
        record_consent = request.body.get("recordConsent")
        if record_consent is None:
            record_consent = consent.consent_default(token.channel)
        elif record_consent not in consent.CONSENT_CHOICES:
            raise ProtocolError("bad_message", "field 'recordConsent' must be 'ask' or 'allow'", request.id)
        self._count_token(str(raw_token), request)
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
            record_consent=record_consent,
        )
        group = room_group_name(token.channel)
        # In the group before the join's snapshot is taken: every change after it reaches this process.
        await self.channel_layer.group_add(group, self.channel_name)
        self._joining = True
        try:
            result = await database_sync_to_async(extension.join if extension else joining.join_plain)(join, parsed)
        except BaseException:
            await self.channel_layer.group_discard(group, self.channel_name)
            raise
        finally:
            self._joining = False
        self.token, self.member, self.group, self.lost = token, result.member, group, None
        self._disarm_join_deadline()
        self.presence.directory.local_join(
            token.channel, result.member.account, _route(result.member), {m.account: _route(m) for m in result.others}
        )
        if result.replaced is not None:
            await self.channel_layer.send(
                result.replaced.channel_name, protocol.member_replaced(result.replaced.session)
            )
        await self._announce_departures(result.expired, result.ended_notices, reason="expired")
        await self._broadcast(protocol.member_joined(result.member.as_wire()), member=result.member)
        await self._ask_newcomer(result.member)
        data: dict[str, Any] = {
            "self": result.member.as_wire(),
            "members": [m.as_wire() for m in result.others],
            "recordings": [n.as_wire() for n in result.notices],
            "iceServers": settings.NETCALL_ICE_SERVERS,
        }
        if extension is not None:
            data |= await extension.joined(result, layer=self.channel_layer, broadcast=self._broadcast)
        return data

    def _count_token(self, raw_token: str, request: Request) -> None:
        if raw_token == self._token_counted:
            return
        if not self.presence.token_take(raw_token):
            raise ProtocolError(
                "too_many_connections", "too many open connections with this token", request.id, close_code=CLOSE_POLICY
            )
        if self._token_counted is not None:
            self.presence.token_release(self._token_counted)
        self._token_counted = raw_token

    async def _leave_request(self, request: Request) -> dict[str, Any]:
        await self._leave(reason="left")
        self._arm_join_deadline()
        return {}

    async def _signal(self, request: Request) -> dict[str, Any]:
        member = self._joined()
        assert self.token is not None
        target = request.name_field("to")
        data = request.field("data", dict)
        to_session = request.field("toSession", str, required=False)
        route = self.presence.directory.route(self.token.channel, str(target))
        if route is None:
            raise rooms.RoomError("not_in_room", f"{target!r} is not a member of this channel")
        if to_session is not None and to_session != route.session:
            # Meant for a connection of `target` that has since been replaced (a re-join): drop it, or the new
            # connection would get an answer to an offer it never made.
            raise ProtocolError("stale_session", f"{target!r} has re-joined since; this signal is outdated", request.id)
        frame = protocol.signal(
            sender=member.account, sender_session=member.session, data=data, to_session=route.session
        )
        await self.channel_layer.send(route.channel_name, protocol.member_signal(frame))
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
        where = {"session": member.session, "room_id": member.room_id, "recorder": member.account}
        if request.type == "record.start":
            if not self.token.allows("record"):
                raise ProtocolError("forbidden", "the token does not grant 'record'", request.id)
            ask = {"room_id": member.room_id, "channel": self.token.channel, "recorder": member.account}
            if target is not None:
                asked = await database_sync_to_async(consent.consent_ask_member)(**ask, target=target)
                if asked is not None:  # nothing is recorded until the member accepts (record.consent)
                    await self._ask([asked])
                    return {"record": None, "consent": [asked.consent.as_wire()]}
            notice = await database_sync_to_async(rooms.record_start)(**where, target=target, kind=kind)
            await self._broadcast(protocol.record_state(state="started", record=notice.as_wire()))
            questions = await database_sync_to_async(consent.consent_ask_mix)(**ask) if kind == "aac" else []
            await self._ask(questions)
            return {"record": notice.as_wire(), "consent": [q.consent.as_wire() for q in questions]}
        if request.type in ("record.pause", "record.resume"):
            pause = request.type == "record.pause"
            notice = await database_sync_to_async(rooms.record_pause)(**where, target=target, kind=kind, pause=pause)
            state = "paused" if pause else "resumed"
            await self._broadcast(protocol.record_state(state=state, record=notice.as_wire()))
            return {"record": notice.as_wire()}
        notice = await database_sync_to_async(rooms.record_stop)(**where, target=target, kind=kind)
        await self._broadcast(protocol.record_state(state="stopped", record=notice.as_wire()))
        return {}

    async def _live_pause(self, request: Request) -> dict[str, Any]:
        member = self._joined()
        extension = joining.join_extension()
        if extension is None:
            raise ProtocolError("live_not_recording", "no live session records on this server", request.id)
        return await extension.record_pause(member, pause=request.type == "live.pause", layer=self.channel_layer)

    async def _ask(self, questions: list[consent.Asked]) -> None:
        for question in questions:
            frame = protocol.record_request(question.consent.as_wire())
            await self.channel_layer.send(question.channel_name, protocol.member_signal(frame))

    async def _ask_newcomer(self, member: Member) -> None:
        """Joined while a mix runs and must be asked: the question to this member, and the pending question
        to each mix's recorder (its mix leaves this voice out until an acceptance)."""
        assert self.token is not None
        asked = await database_sync_to_async(consent.consent_ask_newcomer)(member=member, channel=self.token.channel)
        await self._ask(asked)
        for question in asked:
            route = await database_sync_to_async(rooms.member_channel)(
                room_id=member.room_id, account=question.consent.recorder
            )
            if route is not None:
                frame = protocol.record_consent(question.consent.as_wire())
                await self.channel_layer.send(route[0], protocol.member_signal(frame))

    async def _record_respond(self, request: Request) -> dict[str, Any]:
        member = self._joined()
        assert self.token is not None
        answer = await database_sync_to_async(consent.consent_answer)(
            room_id=member.room_id,
            channel=self.token.channel,
            account=member.account,
            request=str(request.field("request", str)),
            accept=request.field("accept", bool),
        )
        wire = answer.consent.as_wire()
        record = answer.notice.as_wire() if answer.notice is not None else None
        if answer.recorder_channel is not None:
            frame = protocol.record_consent(wire, record=record)
            await self.channel_layer.send(answer.recorder_channel, protocol.member_signal(frame))
        if record is not None:
            await self._broadcast(protocol.record_state(state="started", record=record))
            await self._send(protocol.record_state(state="started", record=record))  # _broadcast skips the sender
        return {"consent": wire, "record": record}

    async def _ping(self, request: Request) -> dict[str, Any]:
        # Nothing to write: receive() noted that the member was heard; the liveness task writes it down.
        return {"time": time.time()}

    # --- room events from the channel layer -----------------------------------------------------
    async def room_event(self, event: dict[str, Any]) -> None:
        member = self.member
        if member is None or self.token is None:
            return
        frame = event["frame"]
        kind = frame.get("type")
        directory = self.presence.directory
        if kind == "member.joined" and "channel_name" in event:
            wire = frame["member"]
            route = Route(wire["session"], event["channel_name"], wire["joinedAt"])
            directory.member_joined(self.token.channel, wire["account"], route)
        elif kind == "member.left":
            directory.member_left(self.token.channel, frame["account"], frame["session"])
            if frame["session"] == member.session:
                # Removed by the server (expired): tell the client, then stop being a member at once.
                await self._send(frame)
                await self._lose("expired")
                return
        if event.get("exclude") != member.session:
            await self.send(text_data=event.get("text") or protocol.frame_text(frame))

    async def member_signal(self, event: dict[str, Any]) -> None:
        if self.member is not None:
            await self._send(event["frame"])

    async def member_replaced(self, event: dict[str, Any]) -> None:
        member = self.member
        if member is None or member.session != event["session"]:
            return
        await self._send(error("replaced", "this account joined the channel from another connection"))
        # Forget the membership first, so that disconnect() does not remove the new session.
        await self.channel_layer.group_discard(self.group, self.channel_name)
        self.member = None
        if self.token is not None:
            self.presence.directory.local_leave(self.token.channel, member.account, member.session)
        await self._close(CLOSE_REPLACED)

    async def member_gone(self, event: dict[str, Any]) -> None:
        """The liveness task found this member's row gone without a room event saying so."""
        member = self.member
        if member is None or member.session != event["session"]:
            return
        frame = protocol.member_left(account=member.account, session=member.session, reason=event["reason"])
        await self._send(frame)
        await self._broadcast(frame)
        await self._lose("expired")

    # --- helpers --------------------------------------------------------------------------------
    def _joined(self) -> Member:
        if self.member is None:
            raise ProtocolError("not_joined", "join a channel first")
        return self.member

    async def _lose(self, reason: str) -> None:
        """The server removed this member: out of the room group now; later requests get `reason`."""
        member, self.member = self.member, None
        if member is None:
            return
        self.lost = reason
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.token is not None:
            self.presence.directory.local_leave(self.token.channel, member.account, member.session)
        logger.info("Consumer(%s) lost membership of %s: %s", self.channel_name, member.account, reason)
        self._arm_join_deadline()

    async def _leave(self, *, reason: str) -> None:
        member, self.member = self.member, None
        self.lost = None
        if member is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.token is not None:
            self.presence.directory.local_leave(self.token.channel, member.account, member.session)
        departure = await database_sync_to_async(rooms.room_leave)(session=member.session)
        if departure is not None:
            await self._announce_departures([departure.member], departure.ended_notices, reason=reason)

    async def _announce_departures(self, members: list[Member], notices: list[RecordNotice], *, reason: str) -> None:
        for notice in notices:
            await self._broadcast(protocol.record_state(state="stopped", record=notice.as_wire()))
        for member in members:
            if self.token is not None:
                self.presence.directory.member_left(self.token.channel, member.account, member.session)
            frame = protocol.member_left(account=member.account, session=member.session, reason=reason)
            await self._broadcast(frame)

    async def _broadcast(self, frame: dict[str, Any], *, member: Member | None = None) -> None:
        exclude = self.member.session if self.member is not None else None
        channel_name = member.channel_name if member is not None else None
        await self.channel_layer.group_send(
            self.group, protocol.room_event(frame, exclude=exclude, channel_name=channel_name)
        )

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=protocol.frame_text(frame))

    async def _close(self, code: int) -> None:
        self.closing = True
        self._disarm_join_deadline()
        await self.close(code=code)

    # --- the join deadline ----------------------------------------------------------------------
    def _arm_join_deadline(self) -> None:
        """A connection not in a room for NETCALL_JOIN_DEADLINE_SECONDS is closed (`join_timeout`)."""
        self._disarm_join_deadline()
        seconds = settings.NETCALL_JOIN_DEADLINE_SECONDS
        if seconds > 0 and not self.closing:
            self._deadline = asyncio.get_running_loop().call_later(seconds, self._join_deadline_passed)

    def _disarm_join_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _join_deadline_passed(self) -> None:
        self._deadline = None
        if self.closing or self.member is not None:
            return
        if self._joining:  # let the join finish; look again shortly
            self._deadline = asyncio.get_running_loop().call_later(1.0, self._join_deadline_passed)
            return
        self._deadline_task = asyncio.get_running_loop().create_task(self._close_unjoined())

    async def _close_unjoined(self) -> None:
        if self.closing or self.member is not None:
            return
        seconds = settings.NETCALL_JOIN_DEADLINE_SECONDS
        await self._send(error("join_timeout", f"no channel joined within {seconds:g} s; closing"))
        await self._close(CLOSE_JOIN_TIMEOUT)


HANDLERS: dict[str, Handler] = {
    "join": NetcallConsumer._join,
    "leave": NetcallConsumer._leave_request,
    "signal": NetcallConsumer._signal,
    "media": NetcallConsumer._media,
    "record.start": NetcallConsumer._record,
    "record.stop": NetcallConsumer._record,
    "record.pause": NetcallConsumer._record,
    "record.resume": NetcallConsumer._record,
    "live.pause": NetcallConsumer._live_pause,
    "live.resume": NetcallConsumer._live_pause,
    "record.respond": NetcallConsumer._record_respond,
    "ping": NetcallConsumer._ping,
}
