"""Channels' layer API over Redis pub/sub, on two plain redis-py connections per event loop.

channels_redis's `RedisPubSubChannelLayer` goes through redis-py's client and `PubSub` objects: a publish
waits for its reply under a lock (about 50 µs of CPU, and the process is woken again by the reply), and a
received message passes `get_message`'s health checks, retries and timeouts (about 100 µs of CPU), where
redis-py's own connection does the same work in 19 and 8 µs (docs/performance.md). A relayed signal pays
both twice per round trip between two processes. So this layer keeps redis-py for what a client library is
for (connecting, the URL, authentication, TLS, RESP parsing with hiredis) and drives two of its
`Connection`s directly:

- the publisher, in `CLIENT REPLY OFF` mode: a `PUBLISH` is written and not waited for (pub/sub promises no
  delivery anyway; a failed write raises, as before);
- the subscriber, read by one task that hands each message to the queue of the channel (or of every local
  channel in the group) it was published to. A subscription is confirmed before `new_channel` or
  `group_add` returns, so a channel name handed out is already listened to.

Each channel's queue holds at most `capacity` messages; a message for a full one is dropped and logged (a
connection that stops reading cannot make the server hold unbounded memory). If the subscriber's connection
drops, the task reconnects and subscribes again to every channel and group of the process; what was
published meanwhile is lost, as with any pub/sub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from typing import Any

from channels_redis.serializers import registry
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

DEFAULT_CAPACITY = 100  # as channels' and channels_redis's default
RECONNECT_SECONDS = 1.0
SUBSCRIBE_BATCH = 1000  # channel names per SUBSCRIBE when subscribing again after a reconnect
SUBSCRIBE_TIMEOUT_SECONDS = 10.0  # Redis unreachable for this long: new_channel and group_add raise


class DroppingQueue(asyncio.Queue[bytes]):
    """A channel's messages: when full, the newest is dropped (the subscriber task serves every channel of
    the process and must never wait on one)."""

    def __init__(self, maxsize: int, channel: str) -> None:
        super().__init__(maxsize)
        self.channel = channel
        self.dropped = 0

    def put_nowait(self, item: bytes) -> None:
        if self.full():
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("Channel %s is full (%d messages): dropped %d", self.channel, self.maxsize, self.dropped)
            return
        super().put_nowait(item)


class _LoopState:
    """The connections, channels and groups of one event loop."""

    def __init__(self, pool: ConnectionPool, capacity: int) -> None:
        self.pool = pool
        self.capacity = capacity
        self.channels: dict[str, DroppingQueue] = {}
        self.groups: dict[str, set[str]] = {}  # the group's pub/sub name -> local channels in it
        self.subscribed: set[str] = set()
        self.confirming: dict[str, list[asyncio.Future[None]]] = {}  # subscriptions Redis has yet to confirm
        self.publisher: AbstractConnection | None = None
        self.subscriber: AbstractConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.connecting = asyncio.Lock()

    # --- publishing ---------------------------------------------------------------------------------------
    async def publish(self, name: str, data: bytes) -> None:
        for attempt in range(2):  # a connection found broken is replaced once; what it lost is lost
            publisher = self.publisher
            if publisher is None or not publisher.is_connected:
                publisher = await self._connect_publisher()
            try:
                await publisher.send_packed_command(publisher.pack_command("PUBLISH", name, data), check_health=False)
                return
            except (RedisConnectionError, RedisTimeoutError):
                self.publisher = None
                if attempt:
                    raise

    async def _connect_publisher(self) -> AbstractConnection:
        async with self.connecting:
            if self.publisher is not None and self.publisher.is_connected:
                return self.publisher
            publisher = self.pool.make_connection()
            await publisher.connect()
            await publisher.send_command("CLIENT", "REPLY", "OFF")  # Redis answers nothing from now on
            self.publisher = publisher
            return publisher

    # --- subscribing --------------------------------------------------------------------------------------
    async def subscribe(self, name: str) -> None:
        if name in self.subscribed:
            return
        self.subscribed.add(name)
        confirmed = asyncio.get_running_loop().create_future()
        self.confirming.setdefault(name, []).append(confirmed)
        await self._ensure_reader()
        subscriber = self.subscriber
        # Not connected: the reader is reconnecting, and subscribes again to everything in `subscribed`.
        if subscriber is not None and subscriber.is_connected:
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
                await subscriber.send_command("SUBSCRIBE", name, check_health=False)
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
            await confirmed

    async def unsubscribe(self, name: str) -> None:
        if name not in self.subscribed:
            return
        self.subscribed.discard(name)
        if self.subscriber is not None and self.subscriber.is_connected:
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
                await self.subscriber.send_command("UNSUBSCRIBE", name, check_health=False)

    async def _ensure_reader(self) -> None:
        if self.reader is not None and not self.reader.done():
            return
        async with self.connecting:
            if self.reader is not None and not self.reader.done():
                return
            self.subscriber = self.pool.make_connection()
            await self.subscriber.connect()
            self.reader = asyncio.get_running_loop().create_task(self._read(), name="netcall-pubsub-reader")

    async def _read(self) -> None:
        while True:
            subscriber = self.subscriber
            assert subscriber is not None
            try:
                reply = await subscriber.read_response(push_request=True, disconnect_on_error=True)
                self._dispatch(reply)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Redis pub/sub connection lost: subscribing again", exc_info=True)
                with contextlib.suppress(Exception):
                    await subscriber.disconnect()
                await self._reconnect()

    async def _reconnect(self) -> None:
        while True:
            await asyncio.sleep(RECONNECT_SECONDS)
            subscriber = self.pool.make_connection()
            try:
                await subscriber.connect()
                # From here a new subscription goes out on this connection itself; those made while it was
                # down are in `subscribed` and go now.
                self.subscriber = subscriber
                names = sorted(self.subscribed)
                for start in range(0, len(names), SUBSCRIBE_BATCH):
                    await subscriber.send_command("SUBSCRIBE", *names[start : start + SUBSCRIBE_BATCH])
            except (RedisConnectionError, RedisTimeoutError, OSError):
                logger.warning("Redis pub/sub: reconnecting failed; trying again in %.0f s", RECONNECT_SECONDS)
                with contextlib.suppress(Exception):
                    await subscriber.disconnect()  # a connection whose SUBSCRIBE failed keeps no socket open
                continue
            return

    def _dispatch(self, reply: Any) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return
        kind, name = reply[0], reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        if kind == b"message":
            queue = self.channels.get(name)
            if queue is not None:
                queue.put_nowait(reply[2])
                return
            for channel in self.groups.get(name, ()):
                member = self.channels.get(channel)
                if member is not None:
                    member.put_nowait(reply[2])
        elif kind == b"subscribe":
            for confirmed in self.confirming.pop(name, ()):
                if not confirmed.done():
                    confirmed.set_result(None)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        for connection in (self.publisher, self.subscriber):
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.disconnect()
        self.publisher = self.subscriber = self.reader = None
        self.channels.clear()
        self.groups.clear()
        self.subscribed.clear()


class PubSubChannelLayer:
    """Channels' layer API (channels and groups, as channels_redis's pub/sub layer offers them) over Redis
    pub/sub on one Redis server. `address` is a redis:// or rediss:// URL."""

    extensions = ["groups", "flush"]

    def __init__(
        self, *, address: str, prefix: str = "asgi", capacity: int = DEFAULT_CAPACITY, socket_connect_timeout: float = 5
    ) -> None:
        self.prefix = prefix
        self.capacity = capacity
        # No socket timeout: the subscriber waits for messages indefinitely, and a publish with a timeout
        # would run through asyncio.wait_for (a task per message).
        self.pool = ConnectionPool.from_url(
            address,
            socket_timeout=None,
            socket_connect_timeout=socket_connect_timeout,
            client_name=f"{prefix}pubsub",  # how an operator (or a test) finds these in CLIENT LIST
        )
        self.serializer = registry.get_serializer("msgpack", symmetric_encryption_keys=None)
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState(self.pool, self.capacity)
        return state

    def _group_name(self, group: str) -> str:
        return f"{self.prefix}__group__{group}"

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self._state().publish(channel, self.serializer.serialize(message))

    async def new_channel(self, prefix: str = "specific.") -> str:
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        await self._listen(self._state(), channel)
        return channel

    async def _listen(self, state: _LoopState, channel: str) -> None:
        state.channels[channel] = DroppingQueue(state.capacity, channel)
        await state.subscribe(channel)

    async def receive(self, channel: str) -> dict[str, Any]:
        state = self._state()
        if channel not in state.channels:
            await self._listen(state, channel)
        queue = state.channels[channel]
        try:
            data = await queue.get()
        except asyncio.CancelledError:
            # Channels cancels a consumer's receive when the consumer ends: its channel goes with it.
            if state.channels.get(channel) is queue:
                del state.channels[channel]
                await state.unsubscribe(channel)
            raise
        message: dict[str, Any] = self.serializer.deserialize(data)
        return message

    async def group_add(self, group: str, channel: str) -> None:
        state = self._state()
        if channel not in state.channels:
            raise RuntimeError(f"group_add({group!r}, {channel!r}): only a channel of this process can join a group")
        name = self._group_name(group)
        state.groups.setdefault(name, set()).add(channel)
        await state.subscribe(name)

    async def group_discard(self, group: str, channel: str) -> None:
        state = self._state()
        name = self._group_name(group)
        members = state.groups.get(name)
        if members is None or channel not in members:
            return
        members.discard(channel)
        if not members:
            del state.groups[name]
            await state.unsubscribe(name)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self._state().publish(self._group_name(group), self.serializer.serialize(message))

    async def flush(self) -> None:
        """Close this event loop's connections and forget its channels and groups."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.close()
