"""Past one machine: two Daphne processes sharing PostgreSQL and the Redis channel layer hold one call."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE, BOB, CAROL
from recording.testing.server import TEST_SECRET_KEY, DaphneServer, start_daphne
from tests.support.proxy import FailoverProxy
from tests.support.scale import shared_backends_env
from tests.support.signalling import Client, RemoteSocket

pytestmark = pytest.mark.e2e

NOTICES_JS = """
() => {
  window.__notices = [];
  window.netcall.on('recordStateChange', (e) => window.__notices.push(e));
}
"""
NOTICE_SEEN_JS = """
([target, state]) => window.__notices.some((e) => e.recorder === 'alice' && e.target === target && e.state === state)
"""


@contextlib.contextmanager
def two_processes(tmp_path: Path, **extra: str) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Two Daphne processes on one fresh PostgreSQL database and one Redis channel layer."""
    with shared_backends_env() as env:
        servers: list[DaphneServer] = []
        try:
            servers.append(start_daphne(tmp_path / "a", {**env, **extra}))
            servers.append(start_daphne(tmp_path / "b", {**env, **extra}))
            yield servers[0], servers[1]
        finally:
            for server in servers:
                server.stop()


@pytest.fixture
def shared_backends(tmp_path: Path) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    with two_processes(tmp_path) as servers:
        yield servers


MEMBER_TIMEOUT = 4
LIVENESS_INTERVAL = 0.5


@pytest.fixture
def quick_expiry_backends(tmp_path: Path) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    with two_processes(
        tmp_path, NETCALL_MEMBER_TIMEOUT=str(MEMBER_TIMEOUT), NETCALL_LIVENESS_INTERVAL=str(LIVENESS_INTERVAL)
    ) as servers:
        yield servers


async def _keep_pinging(clients: list[Client]) -> None:
    while True:
        for client in clients:
            await client.send({"type": "ping"})  # unanswered id-less pings: acks carry id null, skipped by request()
        await asyncio.sleep(1)


@pytest.mark.asyncio
async def test_signalling_across_two_processes(
    quick_expiry_backends: tuple[DaphneServer, DaphneServer], settings
) -> None:
    """Relay between processes through each one's member directory, a re-join on the other process replacing
    the old session everywhere (stale_session still guarding), and a member of a process that died expired by
    the other's sweep within the timeout plus one interval."""
    settings.SECRET_KEY = TEST_SECRET_KEY  # mint tokens the servers accept
    a, b = quick_expiry_backends
    room = f"scale-{uuid.uuid4().hex[:8]}"
    alice = await RemoteSocket.open(a.url)
    await alice.join("alice", room)
    bob_on_b = await RemoteSocket.open(b.url)
    old_session = (await bob_on_b.join("bob", room))["self"]["session"]
    assert (await alice.expect("member.joined"))["member"]["session"] == old_session
    pinging = asyncio.create_task(_keep_pinging([alice, bob_on_b]))
    try:
        # Relay from process A to process B and back.
        assert (await alice.request("signal", to="bob", data={"seq": 1}))["type"] == "ack"
        relayed = await bob_on_b.expect("signal")
        assert (relayed["from"], relayed["toSession"], relayed["data"]) == ("alice", old_session, {"seq": 1})
        assert (await bob_on_b.request("signal", to="alice", data={"seq": 2}))["type"] == "ack"
        assert (await alice.expect("signal"))["data"] == {"seq": 2}

        # bob re-joins on process A: B's connection is replaced, everyone sees the new session.
        bob_on_a = await RemoteSocket.open(a.url)
        new_session = (await bob_on_a.join("bob", room))["self"]["session"]
        assert (await bob_on_b.expect("error"))["code"] == "replaced"
        assert await bob_on_b.closed_with() == 4009
        assert (await alice.expect("member.joined"))["member"]["session"] == new_session
        reply = await alice.request("signal", to="bob", toSession=old_session, data={"seq": 3})
        assert reply["code"] == "stale_session"
        assert (await alice.request("signal", to="bob", toSession=new_session, data={"seq": 4}))["type"] == "ack"
        assert (await bob_on_a.expect("signal"))["data"] == {"seq": 4}

        # carol joins on process B, then B dies: A's sweep expires her.
        carol = await RemoteSocket.open(b.url)
        await carol.join("carol", room)
        assert (await alice.expect("member.joined"))["member"]["account"] == "carol"
        assert (await bob_on_a.request("signal", to="carol", data={"seq": 5}))["type"] == "ack"  # A to B
        assert (await carol.expect("signal"))["data"] == {"seq": 5}
        pinging.cancel()
        pinging = asyncio.create_task(_keep_pinging([alice, bob_on_a]))
        b.process.kill()
        # Expected within MEMBER_TIMEOUT + LIVENESS_INTERVAL; the wait allows for a loaded machine.
        left = await alice.expect("member.left", timeout=MEMBER_TIMEOUT + 10)
        assert (left["account"], left["reason"]) == ("carol", "expired")
        assert (await alice.request("signal", to="carol", data={"seq": 6}))["code"] == "not_in_room"
        for client in (alice, bob_on_a):
            await client.close()
    finally:
        pinging.cancel()


def test_two_processes_hold_one_call_and_survive_losing_one(
    shared_backends: tuple[DaphneServer, DaphneServer], open_participant: Callable[..., ParticipantPage]
) -> None:
    a, b = shared_backends
    # Each participant reaches the deployment through its own "load balancer" that prefers one process.
    proxies = {
        ALICE.account: FailoverProxy([a.port, b.port]),
        BOB.account: FailoverProxy([b.port, a.port]),
        CAROL.account: FailoverProxy([a.port, b.port]),
    }
    try:
        people = [ALICE, BOB, CAROL]
        pages = {p.account: open_participant(p, base_url=proxies[p.account].url) for p in people}
        for page in pages.values():
            page.allow_console_error(r"WebSocket connection to .* failed")
        channel = f"scale-{uuid.uuid4().hex[:8]}"
        for page in pages.values():
            page.join(channel)
        assert proxies[BOB.account].connections[b.port] > 0 and proxies[ALICE.account].connections[a.port] > 0
        for me in people:
            pages[me.account].wait_for_members(p.account for p in people if p is not me)
            for other in people:
                if other is not me:
                    pages[me.account].expect_media_from(other)

        # Room state changes made on one process reach members on the other.
        pages[ALICE.account].page.evaluate("() => window.netcall.setMute({audio: true})")
        pages[BOB.account].page.wait_for_function(
            "() => window.netcall.getMember('alice')?.media.audio === false", timeout=30_000
        )
        pages[ALICE.account].page.evaluate("() => window.netcall.setMute({audio: false})")

        # Recording notices too: alice (on A) records bob (on B); bob and carol (on A) are told of start and stop.
        for page in pages.values():
            page.page.evaluate(NOTICES_JS)
        pages[ALICE.account].page.evaluate("() => window.netcall.startRecordMp4({account: 'bob', save: 'none'})")
        for account in (BOB.account, CAROL.account):
            pages[account].page.wait_for_function(NOTICE_SEEN_JS, arg=["bob", "started"], timeout=30_000)
        pages[ALICE.account].page.evaluate("() => window.netcall.stopRecordMp4('bob').then((r) => r.size)")
        for account in (BOB.account, CAROL.account):
            pages[account].page.wait_for_function(NOTICE_SEEN_JS, arg=["bob", "stopped"], timeout=30_000)

        marks = {account: page.event_count() for account, page in pages.items()}
        a.process.kill()  # process A dies: alice and carol lose their connections

        for me in (ALICE, CAROL):
            page = pages[me.account]
            page.wait_for_event("connectionState", after=marks[me.account])
            page.page.wait_for_function("() => window.netcall.connectionState === 'connected'", timeout=60_000)
        assert proxies[ALICE.account].connections[b.port] > 0, "alice never reached process B"
        for me in people:
            page = pages[me.account]
            page.wait_for_members(p.account for p in people if p is not me)
            for other in people:
                if other is not me:
                    page.expect_media_from(other)
    finally:
        for proxy in proxies.values():
            proxy.close()
