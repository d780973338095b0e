"""The channel layer of several processes: Redis pub/sub for the members' traffic, Redis queues for the recorder.

channels_redis's queue layer (`RedisChannelLayer`) keeps each channel's messages in a Redis sorted set until
a receiver takes them: a received message costs four Redis round trips, one at a time per process, and a
room of 50 relayed a signal at 7.4 times a bare relay across two processes. Over pub/sub a message is
published once and Redis pushes it to the subscribed process (recording/signalling/redis_pubsub.py). But
pub/sub delivers only to who is subscribed at that moment, and broadcasts:

- the recorder workers' channel (`netcall-recorder`) must hand each `live.start` to exactly one worker;
- a live session's `#recorder` member gets its channel name when the host joins, and members send it their
  offers at once, before a worker has claimed the session and could subscribe.

So this layer routes: a channel whose name starts with one of `durable_prefixes` (the recorder's) is a queue
of the queue layer, everything else (each connection's own channel, room groups, group sends) goes over
pub/sub. A recorder that wants its room's events adds a channel of its own (`new_channel()`: pub/sub) to
the room group, beside the durable channel it was given.
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer

from recording.signalling.redis_pubsub import DEFAULT_CAPACITY, PubSubChannelLayer


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
        if len(hosts) != 1:
            raise ValueError("SplitRedisChannelLayer takes one Redis server (hosts: a list of one)")
        host = hosts[0]
        address = host["address"] if isinstance(host, dict) else host
        connect_timeout = host.get("socket_connect_timeout", 5) if isinstance(host, dict) else 5
        self.durable_prefixes = tuple(durable_prefixes)
        self.queues = RedisChannelLayer(hosts=hosts, prefix=prefix, capacity=capacity, **queue_options)
        # Its own name space: pub/sub channels are global to a Redis server (not per database number).
        self.broadcast = PubSubChannelLayer(
            address=address, prefix=f"{prefix}.pubsub.", capacity=capacity, socket_connect_timeout=connect_timeout
        )

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
