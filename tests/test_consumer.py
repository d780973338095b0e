"""Signalling consumer: the protocol of docs/protocol.md over a real ASGI stack (in-memory layer)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.utils import timezone

from netcall_site.asgi import application
from recording.models import Member
from recording.tokens import TOKEN_SALT, token_mint
from tests.support.signalling import Client, database_queries, joined

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def channel_name() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


async def room_with(*accounts: str) -> tuple[str, list[Client]]:
    """A new room, and a client per account joined to it one after the other."""
    room = channel_name()
    return room, [await joined(account, room) for account in accounts]


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
    _, (alice, bob, carol) = await room_with("alice", "bob", "carol")
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
    room, (alice, bob) = await room_with("alice", "bob")
    assert (await bob.request("leave"))["type"] == "ack"
    left = await alice.expect("member.left")
    assert (left["account"], left["reason"]) == ("bob", "left")
    await bob.join("bob", room)
    assert (await alice.expect("member.joined"))["member"]["account"] == "bob"
    await alice.close()
    await bob.close()


async def test_media_state_is_shared() -> None:
    _, (alice, bob) = await room_with("alice", "bob")
    reply = await bob.request("media", audio=False, video=True)
    assert reply["data"]["self"]["media"] == {"audio": False, "video": True}
    updated = await alice.expect("member.updated")
    assert updated["member"]["media"] == {"audio": False, "video": True}
    await alice.close()
    await bob.close()


async def test_record_notices_reach_everyone_and_end_when_the_recorder_leaves() -> None:
    room, (alice, bob) = await room_with("alice", "bob")
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


async def test_record_pause_and_resume_reach_everyone_and_late_joiners() -> None:
    room, (alice, bob) = await room_with("alice", "bob")
    assert (await alice.request("record.pause", kind="aac"))["code"] == "not_recording"
    await alice.request("record.start", kind="aac")
    await bob.expect("record.state")
    paused = await alice.request("record.pause", kind="aac")
    assert paused["data"]["record"]["paused"] is True and paused["data"]["record"]["pausedAt"], paused
    event = await bob.expect("record.state")
    assert (event["state"], event["record"]["recorder"], event["record"]["paused"]) == ("paused", "alice", True)
    carol = await Client.connect()  # a member joining meanwhile learns that it is paused
    data = await carol.join("carol", room)
    assert [(r["recorder"], r["paused"]) for r in data["recordings"]] == [("alice", True)]
    resumed = await alice.request("record.resume", kind="aac")
    assert resumed["data"]["record"]["paused"] is False and resumed["data"]["record"]["pausedSeconds"] >= 0
    event = await bob.expect("record.state")
    assert (event["state"], event["record"]["paused"]) == ("resumed", False)
    assert (await carol.expect("record.state"))["state"] == "resumed"
    # live.pause without a recorded live session of one's own
    assert (await bob.request("live.pause"))["code"] == "live_not_recording"
    for client in (alice, bob, carol):
        await client.close()


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
    _, (alice, bob) = await room_with("alice", "bob")
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
    room, (first, second) = await room_with("a", "b")
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
    settings.NETCALL_MEMBER_TIMEOUT = 3
    settings.NETCALL_LIVENESS_INTERVAL = 0.2
    room, (ghost, alice) = await room_with("ghost", "alice")
    # Make the ghost look silent: backdate its liveness instead of waiting.
    await backdate("ghost", room)
    left = await alice.expect("member.left")
    assert (left["account"], left["reason"]) == ("ghost", "expired")
    await ghost.close()
    await alice.close()


async def backdate(account: str, room: str, seconds: float = 60) -> None:
    await database_sync_to_async(
        lambda: Member.objects.filter(account=account, room__name=room).update(
            last_seen=timezone.now() - timedelta(seconds=seconds)
        )
    )()


# --- the steady state touches no database -----------------------------------------------------------


async def test_relayed_signal_and_ping_make_no_database_query(settings) -> None:
    settings.NETCALL_LIVENESS_INTERVAL = 3600  # the liveness task's round is not part of what is measured
    _, (alice, bob) = await room_with("alice", "bob")
    await alice.expect("member.joined")
    with database_queries() as statements:
        assert (await alice.request("ping"))["type"] == "ack"
        reply = await alice.request("signal", to="bob", data={"description": {"type": "offer", "sdp": "v=0"}})
        assert reply["type"] == "ack"
        assert (await bob.expect("signal"))["data"]["description"]["type"] == "offer"
        assert (await bob.request("signal", to="alice", data={"candidate": None}))["type"] == "ack"
        assert (await alice.expect("signal"))["from"] == "bob"
        assert (await bob.request("ping"))["type"] == "ack"
    assert statements == []
    # The detector sees the consumers' database thread: a media change is written there.
    with database_queries() as statements:
        assert (await alice.request("media", audio=False, video=True))["type"] == "ack"
    assert statements
    await alice.close()
    await bob.close()


async def test_liveness_is_written_in_one_statement_per_round(settings) -> None:
    settings.NETCALL_LIVENESS_INTERVAL = 0.3
    room = channel_name()
    members = [await joined(f"m{i}", room) for i in range(4)]
    before = await database_sync_to_async(lambda: dict(Member.objects.values_list("account", "last_seen")))()
    for member in members:
        await member.request("ping")
    with database_queries() as statements:
        await asyncio.sleep(0.7)  # two rounds of the liveness task
    updates = [sql for sql in statements if sql.lstrip().upper().startswith("UPDATE")]
    assert 1 <= len(updates) <= 2, statements  # one statement for all four members per round heard in
    after = await database_sync_to_async(lambda: dict(Member.objects.values_list("account", "last_seen")))()
    assert all(after[f"m{i}"] >= before[f"m{i}"] for i in range(4))
    for member in members:
        await member.close()


# --- no ghosts --------------------------------------------------------------------------------------


async def test_expired_member_is_refused_and_hears_nothing_more(settings) -> None:
    settings.NETCALL_MEMBER_TIMEOUT = 3
    settings.NETCALL_LIVENESS_INTERVAL = 0.2
    room = channel_name()
    ghost = await Client.connect()
    ghost_session = (await ghost.join("ghost", room))["self"]["session"]
    alice = await joined("alice", room)
    assert (await alice.request("record.start", target="ghost", kind="mp4"))["type"] == "ack"
    await backdate("ghost", room)
    left = await alice.expect("member.left")
    assert (left["account"], left["session"], left["reason"]) == ("ghost", ghost_session, "expired")
    # The ghost is told too (its own session), and is no longer a member from then on.
    own = await ghost.expect("member.left")
    assert (own["account"], own["reason"]) == ("ghost", "expired")
    assert (await ghost.request("signal", to="alice", data={"candidate": None}))["code"] == "expired"
    assert (await ghost.request("media", audio=False, video=False))["code"] == "expired"
    assert (await ghost.request("record.start", target="alice", kind="mp4"))["code"] == "expired"
    assert (await ghost.request("record.stop", target="alice", kind="mp4"))["code"] == "expired"
    assert (await ghost.request("ping"))["code"] == "expired"
    # No room event reaches it any more, and nobody can reach it.
    assert (await alice.request("media", audio=False, video=True))["type"] == "ack"
    assert (await alice.request("record.stop", target="ghost", kind="mp4"))["type"] == "ack"
    assert (await alice.request("signal", to="ghost", data={"candidate": None}))["code"] == "not_in_room"
    assert await ghost.nothing_more()
    # Joining again makes it a member again.
    await ghost.join("ghost", room)
    assert (await alice.expect("member.joined"))["member"]["account"] == "ghost"
    assert (await ghost.request("signal", to="alice", data={"candidate": None}))["type"] == "ack"
    await ghost.close()
    await alice.close()


async def ghost_whose_row_is_gone() -> tuple[Client, Client]:
    """ghost and alice in a new room, then ghost's member row deleted behind the consumers' back (no room event)."""
    room, (ghost, alice) = await room_with("ghost", "alice")
    await database_sync_to_async(lambda: Member.objects.filter(account="ghost", room__name=room).delete())()
    return ghost, alice


async def test_member_removed_without_a_room_event_is_told_by_the_liveness_task(settings) -> None:
    settings.NETCALL_LIVENESS_INTERVAL = 0.2
    ghost, alice = await ghost_whose_row_is_gone()
    assert (await ghost.request("ping"))["type"] == "ack"  # heard: the next round writes its liveness
    own = await ghost.expect("member.left")
    assert (own["account"], own["reason"]) == ("ghost", "expired")
    assert (await alice.expect("member.left"))["account"] == "ghost"
    assert (await ghost.request("signal", to="alice", data={"candidate": None}))["code"] == "expired"
    await ghost.close()
    await alice.close()


async def test_a_stale_room_event_cannot_make_a_member_of_the_database_refuse(settings) -> None:
    """A member whose row is gone is refused by the database check even before its room event arrives."""
    settings.NETCALL_LIVENESS_INTERVAL = 3600
    ghost, alice = await ghost_whose_row_is_gone()
    assert (await ghost.request("record.start", target="alice", kind="mp4"))["code"] == "expired"
    assert (await ghost.request("signal", to="alice", data={"candidate": None}))["code"] == "expired"
    await ghost.close()
    await alice.close()


# --- abusive sockets --------------------------------------------------------------------------------


async def test_socket_that_never_joins_is_closed_after_the_deadline(settings) -> None:
    settings.NETCALL_JOIN_DEADLINE_SECONDS = 0.3
    idle = await Client.connect()
    assert (await idle.request("ping"))["type"] == "ack"  # pings do not count as joining
    frame = await idle.expect("error")
    assert frame["code"] == "join_timeout"
    assert await idle.closed_with() == 4008
    await idle.close()
    # A socket that joins in time stays open.
    member = await joined("alice", channel_name())
    await asyncio.sleep(0.5)
    assert (await member.request("ping"))["type"] == "ack"
    await member.close()


async def test_rate_limit_abuser_is_closed_with_1008(settings) -> None:
    settings.NETCALL_MAX_MESSAGES_PER_SECOND = 5
    settings.NETCALL_RATE_LIMIT_STRIKES = 10
    client = await joined("flood", channel_name())
    for request_id in range(40):
        await client.send({"type": "ping", "id": request_id})
    frame = await client.expect("error")
    while frame["code"] == "rate_limited":
        frame = await client.expect("error")
    assert frame["code"] == "rate_limit_abuse"
    assert await client.closed_with() == 1008
    await client.close()


async def test_signal_bytes_per_second_are_capped(settings) -> None:
    settings.NETCALL_MAX_MESSAGE_BYTES = 1024
    settings.NETCALL_SIGNAL_BYTES_PER_SECOND = 2000
    _, (alice, bob) = await room_with("alice", "bob")
    blob = {"candidate": {"candidate": "x" * 800}}
    replies = [await alice.request("signal", to="bob", data=blob) for _ in range(3)]
    assert [r["type"] for r in replies[:2]] == ["ack", "ack"]
    assert replies[2]["code"] == "rate_limited"
    # Small frames of other types are not counted against the signal byte budget.
    assert (await alice.request("ping"))["type"] == "ack"
    await alice.close()
    await bob.close()


async def test_open_connections_per_address_are_capped(settings) -> None:
    settings.NETCALL_MAX_CONNECTIONS_PER_ADDRESS = 2
    first, second = await Client.connect(), await Client.connect()
    third = await Client.connect()
    assert (await third.expect("error"))["code"] == "too_many_connections"
    assert await third.closed_with() == 1008
    await third.close()
    await second.close()
    fourth = await Client.connect()  # one closed: room for another
    assert (await fourth.request("ping"))["type"] == "ack"
    await first.close()
    await fourth.close()


async def test_open_connections_per_token_are_capped(settings) -> None:
    settings.NETCALL_MAX_CONNECTIONS_PER_TOKEN = 1
    room = channel_name()
    token = token_mint(account="alice", channel=room)
    first, second = await Client.connect(), await Client.connect()
    assert (await first.request("join", token=token, channel=room))["type"] == "ack"
    assert (await second.request("join", token=token, channel=room))["code"] == "too_many_connections"
    assert await second.closed_with() == 1008
    await second.close()
    await first.close()


async def test_a_channel_layer_message_without_a_handler_closes_the_socket_with_1011() -> None:
    """The consumer's own dispatch loop (NetcallConsumer.__call__) ends the connection on a failed layer
    message, as Channels' loop did, instead of going on deaf to its room."""
    room, (alice,) = await room_with("alice")
    member = await Member.objects.aget(room__name=room, account="alice")
    await get_channel_layer().send(member.channel_name, {"type": "no.such.handler"})
    assert await alice.closed_with() == 1011
