"""The channel layer of several processes: Redis pub/sub for the members' traffic, Redis queues for the recorder.

channels_redis's queue layer (`RedisChannelLayer`) keeps each channel's messages in a Redis sorted set until
a receiver takes them: a received message costs four Redis round trips, one at a time per process, and a
room of 50 relayed a signal at 7.4 times a bare relay across two processes. Its pub/sub layer
(`RedisPubSubChannelLayer`) publishes once and Redis pushes the message to the subscribed process: 3.1 times
(docs/performance.md). But pub/sub delivers only to who is subscribed at that moment, and broadcasts:

- the recorder workers' channel (`netcall-recorder`) must hand each `live.start` to exactly one worker;
- a live session's `#recorder` member gets its channel name when the host joins, and members send it their
  offers at once, before a worker has claimed the session and could subscribe.

So this layer routes: a channel whose name starts with one of `durable_prefixes` (the recorder's) is a queue
of the queue layer, everything else (each connection's own channel, room groups, group sends) goes over
pub/sub. A recorder that wants its room's events adds a channel of its own (`new_channel()`: pub/sub) to
the room group, beside the durable channel it was given.

Pub/sub's per-channel queues in the receiving process are unbounded; the queue layer refuses a full channel
(`capacity`, 100 by default). Here a channel's queue holds at most `capacity` messages and a message for a
full one is dropped (and logged), as the in-memory layer's group_send does: a connection that stops reading
cannot make the server hold unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import _wrap_close

logger = logging.getLogger(__name__)

DEFAULT_CAPACITY = 100  # as channels' and channels_redis's default


class _DroppingQueue(asyncio.Queue[Any]):
    """A full queue drops the newest message instead of raising: the pub/sub receiver task that puts it
    serves every channel of the process, and channels_redis answers an exception there by sleeping a second."""

    def __init__(self, maxsize: int, channel: str) -> None:
        super().__init__(maxsize)
        self.channel = channel
        self.dropped = 0

    def put_nowait(self, item: Any) -> None:
        if self.full():
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("Channel %s is full (%d messages): dropped %d", self.channel, self.maxsize, self.dropped)
            return
        super().put_nowait(item)


class _BoundedLoopLayer(RedisPubSubLoopLayer):  # type: ignore[misc]
    def __init__(self, *args: Any, capacity: int = DEFAULT_CAPACITY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity

    async def _subscribe_to_channel(self, channel: str) -> None:
        self.channels[channel] = _DroppingQueue(self.capacity, channel)
        await self._get_shard(channel).subscribe(channel)


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    """channels_redis's pub/sub layer with a bounded queue per channel (see the module's docstring)."""

    def __init__(self, *args: Any, capacity: int = DEFAULT_CAPACITY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _BoundedLoopLayer(*self._args, capacity=self.capacity, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer


class SplitRedisChannelLayer:
    """Channels' layer API over two Redis layers: durable queues for the names in `durable_prefixes`, pub/sub
    for everything else. `CONFIG` is that of channels_redis (`hosts`, `prefix`, `capacity`, ...) plus
    `durable_prefixes`."""

    extensions = ["groups", "flush"]

    def __init__(
        self,
        *,
        hosts: list[Any],
        prefix: str = "asgi",
        durable_prefixes: list[str] | tuple[str, ...] = (),
        capacity: int = DEFAULT_CAPACITY,
        **queue_options: Any,
    ) -> None:
        self.durable_prefixes = tuple(durable_prefixes)
        self.queues = RedisChannelLayer(hosts=hosts, prefix=prefix, capacity=capacity, **queue_options)
        # Its own name space: pub/sub channels are global to a Redis server (not per database number).
        self.broadcast = BoundedPubSubChannelLayer(hosts=hosts, prefix=f"{prefix}.pubsub.", capacity=capacity)

    def _durable(self, channel: str) -> bool:
        return channel.startswith(self.durable_prefixes)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await (self.queues if self._durable(channel) else self.broadcast).send(channel, message)

    async def receive(self, channel: str) -> dict[str, Any]:
        message: dict[str, Any] = await (self.queues if self._durable(channel) else self.broadcast).receive(channel)
        return message

    async def new_channel(self, prefix: str = "specific.") -> str:
        channel: str = await self.broadcast.new_channel(prefix)
        return channel

    async def group_add(self, group: str, channel: str) -> None:
        if self._durable(channel):
            raise ValueError(f"{channel!r} is a durable queue: add a channel of new_channel() to groups instead")
        await self.broadcast.group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        await self.broadcast.group_discard(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self.broadcast.group_send(group, message)

    async def flush(self) -> None:
        await self.queues.flush()
        await self.broadcast.flush()
