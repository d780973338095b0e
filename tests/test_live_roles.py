"""Live roles at join time: host, co-host, plain member, and the errors of docs/protocol.md."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from recording.live.services import RECORDER_ACCOUNT
from recording.models.live import LiveSession
from recording.tokens import token_mint
from tests.support.live.client import LiveClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

URL = "rtmp://127.0.0.1:1/live/stream"


@pytest.fixture(autouse=True)
def _no_recorder_worker(settings: Any) -> None:
    settings.NETCALL_RECORDER_IN_PROCESS = False  # roles only: no media in these tests


def channel_name() -> str:
    return f"live-{uuid.uuid4().hex[:8]}"


async def joined(account: str, channel: str, live: dict[str, Any] | None) -> tuple[LiveClient, dict[str, Any]]:
    client = await LiveClient.connect(account)
    reply = await client.join(channel, live)
    return client, reply


async def test_host_starts_a_session_and_the_recorder_joins() -> None:
    room = channel_name()
    host, reply = await joined("alice", room, {"liveEnable": True, "rtmpUrl": URL, "rtmpRecord": True})
    assert reply["type"] == "ack", reply
    data = reply["data"]
    assert data["self"]["role"] == "host"
    assert [(m["account"], m["role"]) for m in data["members"]] == [(RECORDER_ACCOUNT, "recorder")]
    assert data["live"]["host"] == "alice" and data["live"]["record"] is True
    session = await LiveSession.objects.aget(channel=room)
    assert (session.host, session.rtmp_url, session.record, session.status) == ("alice", URL, True, "starting")

    cohost, reply = await joined("bob", room, {"liveEnable": True})
    assert reply["data"]["self"]["role"] == "cohost"
    assert {m["account"] for m in reply["data"]["members"]} == {"alice", RECORDER_ACCOUNT}
    member, reply = await joined("carol", room, None)
    assert reply["data"]["self"]["role"] == "member"
    assert reply["data"]["live"]["host"] == "alice"  # told that the channel is live, though not in it
    for client in (host, cohost, member):
        await client.close()


async def test_role_errors() -> None:
    room = channel_name()
    host, _ = await joined("alice", room, {"liveEnable": True, "rtmpUrl": URL})
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("bob", {"liveEnable": True, "rtmpUrl": "rtmp://elsewhere.example/live/x"}, "live_host_exists"),
        ("bob", {"liveEnable": True, "rtmpUrl": URL}, "live_cohost_rtmp"),
        ("bob", {"liveEnable": False, "rtmpRecord": True}, "live_not_enabled"),
        ("bob", {"rtmpUrl": URL}, "live_not_enabled"),
        ("bob", {"liveEnable": True, "rtmpUrl": "http://example.com/x"}, "bad_rtmp_url"),
        ("bob", {"liveEnable": True, "rtmpUrl": "rtmp:///nohost"}, "bad_rtmp_url"),
        ("bob", {"liveEnable": "yes"}, "bad_message"),
    ]
    for account, live, code in cases:
        client, reply = await joined(account, room, live)
        assert (reply["type"], reply.get("code")) == ("error", code), (live, reply)
        # the failed join left nothing behind: the same socket may join properly
        assert (await client.join(room, {"liveEnable": True}))["data"]["self"]["role"] == "cohost"
        await client.request("leave")
        await client.close()
    await host.close()


async def test_rtmp_record_needs_the_record_grant() -> None:
    room = channel_name()
    client = await LiveClient.connect("alice")
    reply = await client.join(room, {"liveEnable": True, "rtmpUrl": URL, "rtmpRecord": True}, grants=("publish",))
    assert reply["code"] == "forbidden"
    await client.close()


async def test_host_rejoining_keeps_its_session() -> None:
    room = channel_name()
    first, _ = await joined("alice", room, {"liveEnable": True, "rtmpUrl": URL})
    second, reply = await joined("alice", room, {"liveEnable": True, "rtmpUrl": URL})
    assert reply["type"] == "ack", reply
    assert await LiveSession.objects.filter(channel=room).acount() == 1
    await first.close()
    await second.close()


async def test_recorder_account_cannot_be_minted() -> None:
    with pytest.raises(ValueError):
        token_mint(account=RECORDER_ACCOUNT, channel="room")
    with pytest.raises(ValueError):
        token_mint(account="#anything", channel="room")
