"""Past one machine: two Daphne processes sharing PostgreSQL and the Redis channel layer hold one call."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.browser import ParticipantPage
from tests.support.media import ALICE, BOB, CAROL
from tests.support.proxy import FailoverProxy
from tests.support.scale import shared_backends_env
from tests.support.server import DaphneServer, start_daphne

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


@pytest.fixture
def shared_backends(tmp_path: Path) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Two Daphne processes on one fresh PostgreSQL database and one Redis channel layer."""
    with shared_backends_env() as env:
        servers: list[DaphneServer] = []
        try:
            servers.append(start_daphne(tmp_path / "a", env))
            servers.append(start_daphne(tmp_path / "b", env))
            yield servers[0], servers[1]
        finally:
            for server in servers:
                server.stop()


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
