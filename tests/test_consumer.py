"""Signalling consumer: the protocol of docs/protocol.md over a real ASGI stack (in-memory layer)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.utils import timezone

from netcall_site.asgi import application
from recording.models import Member
from recording.tokens import TOKEN_SALT, token_mint
from tests.support.signalling import Client, joined

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def channel_name() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


async def test_join_lists_members_and_announces_newcomers() -> None:
    room = channel_name()
    alice = await joined("alice", room)
    bob = await Client.connect()
    data = await bob.join("bob", room)
    assert [m["account"] for m in data["members"]] == ["alice"]
    assert data["self"]["account"] == "bob"
    event = await alice.expect("member.joined")
    assert event["member"]["account"] == "bob"
    assert event["member"]["session"] == data["self"]["session"]
    await alice.close()
    left = await bob.expect("member.left")
    assert (left["account"], left["reason"]) == ("alice", "disconnected")
    await bob.close()


async def test_signal_is_relayed_to_the_addressed_member_only() -> None:
    room = channel_name()
    alice, bob, carol = await joined("alice", room), await joined("bob", room), await joined("carol", room)
    reply = await alice.request("signal", to="bob", data={"description": {"type": "offer", "sdp": "v=0"}})
    assert reply["type"] == "ack"
    relayed = await bob.expect("signal")
    assert relayed["from"] == "alice"
    assert relayed["data"] == {"description": {"type": "offer", "sdp": "v=0"}}
    assert await carol.nothing_more()
    for client in (alice, bob, carol):
        await client.close()


async def test_signal_for_a_replaced_session_is_not_relayed() -> None:
    room = channel_name()
    alice = await joined("alice", room)
    bob_first = await Client.connect()
    old_session = (await bob_first.join("bob", room))["self"]["session"]
    bob_second = await Client.connect()
    new_session = (await bob_second.join("bob", room))["self"]["session"]
    reply = await alice.request("signal", to="bob", toSession=old_session, data={"description": {"type": "answer"}})
    assert reply["code"] == "stale_session"
    assert (await alice.request("signal", to="bob", toSession=new_session, data={"candidate": None}))["type"] == "ack"
    relayed = await bob_second.expect("signal")
    assert (relayed["toSession"], relayed["data"]) == (new_session, {"candidate": None})
    for client in (alice, bob_first, bob_second):
        await client.close()


async def test_two_rooms_never_see_each_other() -> None:
    room_a, room_b = channel_name(), channel_name()
    a1 = await joined("alice", room_a)
    b1 = await joined("alice", room_b)  # same account, other channel: a different member
    a2 = await Client.connect()
    data = await a2.join("bob", room_a)
    assert [m["account"] for m in data["members"]] == ["alice"]
    await a1.expect("member.joined")
    assert await b1.nothing_more()
    reply = await a2.request("signal", to="carol", data={"candidate": None})
    assert reply["code"] == "not_in_room"
    for client in (a1, b1, a2):
        await client.close()


async def test_leave_then_rejoin_on_the_same_socket() -> None:
    room = channel_name()
    alice, bob = await joined("alice", room), await joined("bob", room)
    assert (await bob.request("leave"))["type"] == "ack"
    left = await alice.expect("member.left")
    assert (left["account"], left["reason"]) == ("bob", "left")
    await bob.join("bob", room)
    assert (await alice.expect("member.joined"))["member"]["account"] == "bob"
    await alice.close()
    await bob.close()


async def test_media_state_is_shared() -> None:
    room = channel_name()
    alice, bob = await joined("alice", room), await joined("bob", room)
    reply = await bob.request("media", audio=False, video=True)
    assert reply["data"]["self"]["media"] == {"audio": False, "video": True}
    updated = await alice.expect("member.updated")
    assert updated["member"]["media"] == {"audio": False, "video": True}
    await alice.close()
    await bob.close()


async def test_record_notices_reach_everyone_and_end_when_the_recorder_leaves() -> None:
    room = channel_name()
    alice, bob = await joined("alice", room), await joined("bob", room)
    reply = await alice.request("record.start", target="bob", kind="mp4")
    assert reply["data"]["record"]["target"] == "bob"
    event = await bob.expect("record.state")
    assert (event["state"], event["record"]["recorder"], event["record"]["kind"]) == ("started", "alice", "mp4")
    carol = await Client.connect()
    data = await carol.join("carol", room)
    assert [(r["recorder"], r["target"]) for r in data["recordings"]] == [("alice", "bob")]
    await alice.close()
    stopped = await bob.expect("record.state")
    assert stopped["state"] == "stopped"
    assert (await bob.request("record.stop", target="bob", kind="mp4"))["code"] == "not_recording"
    await bob.close()
    await carol.close()


async def test_duplicate_account_takes_over_the_older_connection() -> None:
    room = channel_name()
    alice = await joined("alice", room)
    old = await joined("bob", room)
    first_session = (await alice.expect("member.joined"))["member"]["session"]
    new = await Client.connect()
    await new.join("bob", room)
    replaced = await old.expect("error")
    assert replaced["code"] == "replaced"
    closed = await old.ws.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4009}
    rejoined = await alice.expect("member.joined")
    assert rejoined["member"]["account"] == "bob"
    assert rejoined["member"]["session"] != first_session
    # The old socket's disconnect must not remove the new session.
    await old.close()
    assert await alice.nothing_more()
    assert (await alice.request("signal", to="bob", data={"candidate": None}))["type"] == "ack"
    assert (await new.expect("signal"))["from"] == "alice"
    await alice.close()
    await new.close()


# --- bad input: one test each ---------------------------------------------------------------------


async def test_join_without_token() -> None:
    client = await Client.connect()
    reply = await client.request("join", channel="c")
    assert reply["code"] == "token_missing"
    await client.close()


async def test_join_with_expired_token() -> None:
    client = await Client.connect()
    token = token_mint(account="a", channel="c", ttl=5, now=time.time() - 10)
    assert (await client.request("join", token=token, channel="c"))["code"] == "token_expired"
    await client.close()


async def test_join_with_forged_token() -> None:
    client = await Client.connect()
    forged = signing.dumps({"acc": "a", "ch": "c", "grants": ["publish"], "exp": 2**40}, key="x", salt=TOKEN_SALT)
    assert (await client.request("join", token=forged, channel="c"))["code"] == "token_invalid"
    await client.close()


async def test_join_with_token_for_another_channel() -> None:
    client = await Client.connect()
    token = token_mint(account="a", channel="elsewhere")
    assert (await client.request("join", token=token, channel="here"))["code"] == "token_wrong_channel"
    await client.close()


async def test_join_without_publish_grant() -> None:
    client = await Client.connect()
    token = token_mint(account="a", channel="c", grants=["record"])
    assert (await client.request("join", token=token, channel="c"))["code"] == "forbidden"
    await client.close()


async def test_malformed_json() -> None:
    client = await Client.connect()
    await client.ws.send_to(text_data="{not json")
    reply = await client.receive()
    assert (reply["type"], reply["code"]) == ("error", "bad_json")
    await client.ws.send_to(text_data="[1, 2]")
    assert (await client.receive())["code"] == "bad_json"
    await client.ws.send_to(bytes_data=b"\x00\x01")
    assert (await client.receive())["code"] == "bad_json"
    # The connection stays usable.
    assert (await client.request("ping"))["type"] == "ack"
    await client.close()


async def test_unknown_message_type() -> None:
    client = await joined("a", channel_name())
    reply = await client.request("explode")
    assert (reply["type"], reply["code"]) == ("error", "unknown_type")
    await client.close()


async def test_wrongly_typed_fields() -> None:
    client = await joined("a", channel_name())
    assert (await client.request("media", audio="yes", video=True))["code"] == "bad_message"
    assert (await client.request("signal", to=42, data={}))["code"] == "bad_message"
    await client.send({"type": "ping", "id": {"nested": True}})
    assert (await client.receive())["code"] == "bad_message"
    await client.close()


async def test_oversized_message(settings) -> None:
    settings.NETCALL_MAX_MESSAGE_BYTES = 1024
    room = channel_name()
    alice, bob = await joined("alice", room), await joined("bob", room)
    await alice.send({"type": "signal", "id": 1, "to": "bob", "data": {"blob": "x" * 2000}})
    reply = await alice.expect("error")
    # Too large to parse, so the error cannot name the request id.
    assert (reply["type"], reply["code"], "id" in reply) == ("error", "message_too_large", False)
    assert await bob.nothing_more()
    await alice.close()
    await bob.close()


async def test_signal_to_someone_not_in_the_room() -> None:
    room = channel_name()
    alice = await joined("alice", room)
    stranger = await joined("mallory", channel_name())
    reply = await alice.request("signal", to="mallory", data={"candidate": None})
    assert reply["code"] == "not_in_room"
    assert await stranger.nothing_more()
    await alice.close()
    await stranger.close()


async def test_requests_before_join() -> None:
    client = await Client.connect()
    assert (await client.request("signal", to="b", data={}))["code"] == "not_joined"
    await client.close()


async def test_second_join_on_one_socket() -> None:
    room = channel_name()
    client = await joined("a", room)
    token = token_mint(account="a", channel=room)
    assert (await client.request("join", token=token, channel=room))["code"] == "already_joined"
    await client.close()


async def test_room_over_capacity(settings) -> None:
    settings.NETCALL_ROOM_CAPACITY = 2
    room = channel_name()
    first, second = await joined("a", room), await joined("b", room)
    third = await Client.connect()
    token = token_mint(account="c", channel=room)
    assert (await third.request("join", token=token, channel=room))["code"] == "room_full"
    # A re-join of a present account is not a new member and still works when full.
    again = await Client.connect()
    await again.join("b", room)
    for client in (first, second, third, again):
        await client.close()


async def test_flooding_is_rate_limited(settings) -> None:
    settings.NETCALL_MAX_MESSAGES_PER_SECOND = 5
    client = await Client.connect()
    for request_id in range(12):
        await client.send({"type": "ping", "id": request_id})
    frames = [await client.receive() for _ in range(12)]
    acks = [f for f in frames if f["type"] == "ack"]
    limited = [f for f in frames if f.get("code") == "rate_limited"]
    assert len(acks) + len(limited) == 12
    assert 5 <= len(acks) < 12 and limited
    await client.close()


async def test_foreign_origin_is_refused() -> None:
    communicator = WebsocketCommunicator(application, "/ws/netcall/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_silent_members_expire(settings) -> None:
    settings.NETCALL_MEMBER_TIMEOUT = 1
    room = channel_name()
    ghost, alice = await joined("ghost", room), await joined("alice", room)
    # Make the ghost look silent: backdate its liveness instead of waiting.
    await database_sync_to_async(
        lambda: Member.objects.filter(account="ghost").update(last_seen=timezone.now() - timedelta(seconds=5))
    )()
    await alice.request("ping")
    left = await alice.expect("member.left")
    assert (left["account"], left["reason"]) == ("ghost", "expired")
    await ghost.close()
    await alice.close()
