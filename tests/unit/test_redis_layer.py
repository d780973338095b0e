"""The channel layer of several processes (recording/signalling/redis_layer.py), on the local Redis: two layer
objects with one prefix stand for two processes of one deployment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis import asyncio as redis

from recording.signalling.redis_layer import SplitRedisChannelLayer
from tests.support.scale import REDIS_URL, require_redis

pytestmark = pytest.mark.asyncio

DURABLE = "netcall-recorder"


@pytest_asyncio.fixture
async def processes() -> AsyncIterator[tuple[SplitRedisChannelLayer, SplitRedisChannelLayer]]:
    require_redis()
    prefix = f"netcall-unit-{uuid.uuid4().hex[:8]}"
    layers = tuple(
        SplitRedisChannelLayer(hosts=[REDIS_URL], prefix=prefix, durable_prefixes=[DURABLE], capacity=3)
        for _ in range(2)
    )
    yield layers[0], layers[1]
    for layer in layers:
        await layer.flush()


async def receive(layer: SplitRedisChannelLayer, channel: str) -> dict[str, object]:
    return await asyncio.wait_for(layer.receive(channel), timeout=30)


async def test_a_connection_channel_is_pub_sub_across_processes(
    processes: tuple[SplitRedisChannelLayer, SplitRedisChannelLayer],
) -> None:
    one, two = processes
    member = await two.new_channel()
    assert not member.startswith(DURABLE)
    await one.send(member, {"type": "member.signal", "n": 1})
    assert await receive(two, member) == {"type": "member.signal", "n": 1}
    async with redis.Redis.from_url(REDIS_URL) as client:
        assert await client.keys(f"{one.queues.prefix}*") == []  # published, not queued


async def test_a_recorder_channel_keeps_what_was_sent_before_anyone_listened(
    processes: tuple[SplitRedisChannelLayer, SplitRedisChannelLayer],
) -> None:
    one, two = processes
    recorder = f"{DURABLE}.{uuid.uuid4().hex}"
    for n in range(3):  # the host's offer and candidates, before a worker has claimed the session
        await one.send(recorder, {"type": "member.signal", "n": n})
    assert [(await receive(two, recorder))["n"] for _ in range(3)] == [0, 1, 2]
    worker = f"{DURABLE}-{uuid.uuid4().hex[:6]}"  # a workers' channel: each message to exactly one of them
    await one.send(worker, {"type": "live.start"})
    first = asyncio.ensure_future(one.receive(worker))
    second = asyncio.ensure_future(two.receive(worker))
    done, pending = await asyncio.wait([first, second], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    assert [task.result() for task in done] == [{"type": "live.start"}]
    for task in pending:
        task.cancel()


async def test_group_send_reaches_members_in_both_processes(
    processes: tuple[SplitRedisChannelLayer, SplitRedisChannelLayer],
) -> None:
    one, two = processes
    here, there = await one.new_channel(), await two.new_channel()
    recorder_events = await two.new_channel("recorder.")
    for layer, channel in ((one, here), (two, there), (two, recorder_events)):
        await layer.group_add("room-x", channel)
    await one.group_send("room-x", {"type": "room.event", "frame": {"n": 1}})
    for layer, channel in ((one, here), (two, there), (two, recorder_events)):
        assert await receive(layer, channel) == {"type": "room.event", "frame": {"n": 1}}
    with pytest.raises(ValueError, match="durable"):
        await one.group_add("room-x", f"{DURABLE}.abc")
    await two.group_discard("room-x", there)
    await one.group_send("room-x", {"type": "room.event", "frame": {"n": 2}})
    assert (await receive(two, recorder_events))["frame"] == {"n": 2}
    assert two.broadcast._state().channels[there].qsize() == 0  # discarded: nothing for it


async def test_a_channel_nobody_reads_holds_at_most_its_capacity(
    processes: tuple[SplitRedisChannelLayer, SplitRedisChannelLayer],
) -> None:
    one, two = processes
    stuck, other = await two.new_channel(), await two.new_channel()
    for n in range(10):
        await one.send(stuck, {"type": "x", "n": n})
    await one.send(other, {"type": "y"})
    assert await receive(two, other) == {"type": "y"}  # the other channel of that process still gets its own
    queue = two.broadcast._state().channels[stuck]
    assert queue.qsize() == 3  # capacity
    assert queue.dropped == 7
    assert [(await receive(two, stuck))["n"] for _ in range(3)] == [0, 1, 2]  # the oldest kept, the newest dropped
    await one.send(stuck, {"type": "x", "n": 10})
    assert (await receive(two, stuck))["n"] == 10  # room again once it is read


async def test_both_connections_come_back_after_redis_drops_them(
    processes: tuple[SplitRedisChannelLayer, SplitRedisChannelLayer],
) -> None:
    one, two = processes
    member = await two.new_channel()
    await one.group_add("room-y", await one.new_channel())
    await one.send(member, {"type": "before"})
    assert (await receive(two, member))["type"] == "before"
    async with redis.Redis.from_url(REDIS_URL) as client:
        name = f"{one.broadcast.prefix}pubsub"
        ours = [c for c in await client.client_list() if c["name"] == name]
        assert len(ours) == 3  # one publisher (one), two subscribers
        for connection in ours:
            await client.client_kill_filter(_id=connection["id"])
    # Messages published while a connection is down are lost (pub/sub); send until one gets through. One
    # receive waits all along: a cancelled receive ends its channel (as Channels cancels it when a consumer
    # ends), so receiving with a timeout in a loop would drop the channel each time round.
    arrived = asyncio.ensure_future(two.receive(member))
    async with asyncio.timeout(30):
        while not arrived.done():
            await one.send(member, {"type": "after"})
            await asyncio.wait([arrived], timeout=0.5)
    assert arrived.result()["type"] == "after"
