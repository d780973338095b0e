"""The channel layer of one process (recording/signalling/layer.py): Channels' in-memory layer with its
expiry walk at most once a second and a direct group_send."""

from __future__ import annotations

import asyncio

import pytest

from recording.signalling import layer as layer_module
from recording.signalling.layer import LocalChannelLayer

pytestmark = pytest.mark.asyncio


async def test_group_send_reaches_every_member_with_its_own_copy() -> None:
    layer = LocalChannelLayer()
    names = [await layer.new_channel() for _ in range(3)]
    for name in names:
        await layer.group_add("room", name)
    waiting = asyncio.ensure_future(layer.receive(names[0]))  # one member already waiting, as consumers are
    await asyncio.sleep(0)
    await layer.group_send("room", {"type": "room.event", "frame": {"n": 1}})
    received = [await waiting, *[await layer.receive(name) for name in names[1:]]]
    assert received == [{"type": "room.event", "frame": {"n": 1}}] * 3
    received[0]["frame"]["n"] = 2  # a receiver changing its message changes nobody else's
    assert [m["frame"]["n"] for m in received] == [2, 1, 1]
    await layer.group_discard("room", names[2])
    await layer.group_send("room", {"type": "x"})
    assert await layer.receive(names[1]) == {"type": "x"}
    assert names[2] not in layer.channels  # a member that left gets nothing


async def test_a_full_member_misses_a_group_message_without_failing_the_others() -> None:
    layer = LocalChannelLayer(capacity=1)
    full, other = await layer.new_channel(), await layer.new_channel()
    for name in (full, other):
        await layer.group_add("room", name)
    await layer.group_send("room", {"type": "first"})
    assert await layer.receive(other) == {"type": "first"}  # `other` makes room, `full` does not
    await layer.group_send("room", {"type": "second"})  # `full` has no room for it
    assert await layer.receive(other) == {"type": "second"}
    assert await layer.receive(full) == {"type": "first"}
    assert full not in layer.channels  # "second" was dropped for it: nothing more is queued


async def test_expired_messages_are_still_cleaned_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(layer_module.time, "monotonic", lambda: clock[0])
    layer = LocalChannelLayer(expiry=60)
    stale, busy = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room", stale)
    await layer.send(stale, {"type": "old"})
    layer.channels[stale]._queue[0] = (0.0, {"type": "old"})  # expired long ago
    await layer.send(busy, {"type": "a"})
    assert await layer.receive(busy) == {"type": "a"}  # the first receive cleans: the stale channel is gone
    assert stale not in layer.channels and stale not in layer.groups.get("room", {})
    await layer.group_add("room", stale)
    await layer.send(stale, {"type": "old again"})
    layer.channels[stale]._queue[0] = (0.0, {"type": "old again"})
    await layer.send(busy, {"type": "b"})
    assert await layer.receive(busy) == {"type": "b"}  # within the interval: no walk over every channel
    assert stale in layer.channels
    clock[0] += layer_module.CLEAN_EVERY_SECONDS
    await layer.send(busy, {"type": "c"})
    assert await layer.receive(busy) == {"type": "c"}  # next interval: cleaned
    assert stale not in layer.channels
