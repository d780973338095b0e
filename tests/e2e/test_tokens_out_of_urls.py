"""Issue 14, item 9, in a real browser against a real server: a backend's link carries the token in the URL
fragment; the pages hand it over by POST, the address bar and the server's log never hold it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE
from recording.testing.server import ServerFactory

pytestmark = pytest.mark.e2e


def test_links_with_a_fragment_token_work_and_no_log_holds_the_token(
    open_participant: Callable[..., ParticipantPage], daphne_server: ServerFactory
) -> None:
    server = daphne_server(NETCALL_GUEST_MODE="0")
    token = server.mint_token("alice", "fragment-room")
    since = server.log_size()
    page = open_participant(ALICE, server)
    page.channel = "fragment-room"
    page.page.goto(f"{server.url}/room/fragment-room/#token={token}")
    page.wait_ready()
    assert "token" not in page.page.url
    page.page.goto(f"{server.url}/recordings/fragment-room/")  # the session the room page started opens it
    page.page.wait_for_selector("h1")
    assert page.page.locator("#token-form").count() == 0
    page.page.goto(f"{server.url}/recordings/fragment-room/#token={token}")
    page.page.wait_for_selector("h1")
    assert "token" not in page.page.url
    assert page.page.evaluate("() => document.cookie").find("session") == -1  # HttpOnly: not for scripts
    log = server.log_text(since=since)
    assert "/room/fragment-room/" in log  # the access log is there, and
    assert token not in log  # the token is not in it
