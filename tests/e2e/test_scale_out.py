"""Past one machine: two Daphne processes sharing PostgreSQL and the Redis channel layer hold one call."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .browser import ParticipantPage
from .media import ALICE, BOB, CAROL
from .proxy import FailoverProxy
from .server import DaphneServer, postgres_database, start_daphne

pytestmark = pytest.mark.e2e

POSTGRES_URL = os.environ.get("NETCALL_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("NETCALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def shared_backends(tmp_path: Path) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Two Daphne processes on one fresh PostgreSQL database and one Redis channel layer."""
    if not (_reachable(5432) and _reachable(6379)):
        message = "scale-out tests need PostgreSQL on 5432 and Redis on 6379"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI machines run both)")
        pytest.skip(message)
    database_url, drop_database = postgres_database(POSTGRES_URL)
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "NETCALL_REDIS_PREFIX": f"netcall-e2e-{uuid.uuid4().hex[:8]}",
    }
    servers: list[DaphneServer] = []
    try:
        servers.append(start_daphne(tmp_path / "a", env))
        servers.append(start_daphne(tmp_path / "b", env))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()
        drop_database()


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
