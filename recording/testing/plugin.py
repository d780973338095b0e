"""The pytest plugin of netcall's test kit (README "Testing your app with netcall"); it loads by itself once
`netcall[testing]` is installed (entry point `pytest11`), or with `-p recording.testing.plugin`.

Fixtures:
- `netcall_server` (session): a running netcall (`recording.testing.server.NetcallServer`), started like
  `make run` from the installed package on a free port with a temporary database and media directory and
  its callbacks pointed at `webhook_receiver`; or the one at `NETCALL_TEST_URL` (`NETCALL_TEST_API_KEY`).
- `webhook_receiver` (session): the HTTP server that server posts its signed callbacks to.
- `participant` (function): a factory, `participant("alice", tone=440, colour="red")`,
  `participant("syncer", media="sync")`: a page in a Chromium of its own with generated fake camera and
  microphone (`recording.testing.browser.ParticipantPage`); page and console errors fail the test.
- `netcall_media_dir` (session), `netcall_playwright` (module): what `participant` builds on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TypedDict, Unpack

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from .browser import ParticipantPage, launch_chromium, open_participant_page
from .capture import COLOURS, RGB, Participant, colour_rgb, media_files_for
from .server import NetcallAPI, NetcallServer, external_server, start_server
from .webhooks import CallbackReceiver

MAX_BROWSERS = 3  # Chromium processes per test: three meshed browsers is what a 2-core machine carries
KNOWN_PEOPLE: dict[str, tuple[int, RGB]] = {
    "alice": (440, COLOURS["red"]),
    "bob": (660, COLOURS["green"]),
    "carol": (880, COLOURS["blue"]),
}
OTHER_MEDIA: list[tuple[int, RGB]] = [(550, COLOURS["yellow"]), (770, COLOURS["magenta"]), (990, COLOURS["cyan"])]
SYNC_DEFAULT: tuple[int, RGB] = (1000, COLOURS["grey"])

ParticipantFactory = Callable[..., ParticipantPage]

_running_servers: list[NetcallServer] = []
_open_pages_key = pytest.StashKey[list[ParticipantPage]]()
_log_offsets_key = pytest.StashKey[dict[int, int]]()


def register_server(server: NetcallServer) -> None:
    """Attach the server's log to the report of each failing test while it runs (until `forget_server`)."""
    _running_servers.append(server)


def forget_server(server: NetcallServer) -> None:
    if server in _running_servers:
        _running_servers.remove(server)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test with a real netcall server and Chromium browsers")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if {"participant", "netcall_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def pytest_unconfigure(config: pytest.Config) -> None:
    for server in list(_running_servers):  # an interrupted run: no server outlives pytest
        with contextlib.suppress(Exception):
            server.stop()
        forget_server(server)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_log_offsets_key] = {id(s): s.log_size() for s in _running_servers}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        offsets = item.stash.get(_log_offsets_key, {})
        for server in _running_servers:
            text = server.log_text(since=offsets.get(id(server), 0))
            report.sections.append((f"netcall {server.url} log (this test)", text[-20000:]))
        for page in item.stash.get(_open_pages_key, []):
            report.sections.append((f"browser console: {page.account}", "\n".join(page.console[-200:])))
    return report


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[CallbackReceiver]:
    """Receives the callbacks of `netcall_server`, checking each signature with the shared secret."""
    receiver = CallbackReceiver.with_secret().start()
    yield receiver
    receiver.stop()


@contextlib.contextmanager
def running_server(
    workdir: Path, webhook_receiver: CallbackReceiver | None = None, **env: str
) -> Iterator[NetcallServer]:
    """A netcall with settings `env` (and its callbacks sent to `webhook_receiver`), stopped afterwards:
    what to yield from your own `netcall_server` fixture when your tests need other settings."""
    settings = {**(webhook_receiver.server_env if webhook_receiver is not None else {}), **env}
    server = start_server(workdir, settings)
    register_server(server)
    try:
        yield server
    finally:
        server.stop()
        forget_server(server)


@pytest.fixture(scope="session")
def netcall_server(
    tmp_path_factory: pytest.TempPathFactory, webhook_receiver: CallbackReceiver
) -> Iterator[NetcallAPI]:
    """The netcall of this test session (see the module's docstring)."""
    url = os.environ.get("NETCALL_TEST_URL")
    if url:
        yield external_server(url, os.environ.get("NETCALL_TEST_API_KEY", ""))
        return
    with running_server(tmp_path_factory.mktemp("netcall"), webhook_receiver) as server:
        yield server


@pytest.fixture(scope="session")
def netcall_media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the participants' fake camera and microphone files are written (once per session)."""
    return tmp_path_factory.mktemp("fake-media")


@pytest.fixture(scope="module")
def netcall_playwright() -> Iterator[Playwright]:
    """Module-scoped: stopping Playwright unregisters its event loop, which would otherwise
    break asyncio-based tests that run later in the same session."""
    with sync_playwright() as playwright:
        yield playwright


class ParticipantMedia(TypedDict, total=False):
    """The fake devices' options `participant(...)` hands on to make_participant (its defaults)."""

    tone: int | None
    colour: str | RGB | None
    media: str
    sync_offset_ms: int


def make_participant(
    who: str | Participant,
    *,
    tone: int | None = None,
    colour: str | RGB | None = None,
    media: str = "tone",
    sync_offset_ms: int = 0,
    index: int = 0,
) -> Participant:
    """Who joins and what their fake devices send: known names (alice, bob, carol) have their tone and
    colour, others get the next unused pair; `media="sync"` makes a sync source (flash + beep every 2 s)."""
    if isinstance(who, Participant):
        return who
    default = SYNC_DEFAULT if media == "sync" else KNOWN_PEOPLE.get(who, OTHER_MEDIA[index % len(OTHER_MEDIA)])
    return Participant(
        account=who,
        tone_hz=int(tone if tone is not None else default[0]),
        rgb=colour_rgb(colour) if colour is not None else default[1],
        media=media,
        sync_offset_ms=sync_offset_ms,
    )


@pytest.fixture
def participant(
    request: pytest.FixtureRequest,
    netcall_playwright: Playwright,
    netcall_media_dir: Path,
    tmp_path: Path,
) -> Iterator[ParticipantFactory]:
    """Factory: `participant(account_or_Participant, *, tone=None, colour=None, media="tone",
    sync_offset_ms=0, url=None, server=None, base_url=None, sdk="window.netcall", open=True)`.

    Each distinct fake media gets its own Chromium (at most MAX_BROWSERS per test); each participant a
    context and page in it, opened on `url` (your app) or the server's lobby (`open=False`: blank). At
    teardown every page and browser is closed and any page error or unexpected console.error fails
    the test (`page.allow_console_error(regex)` to expect one).
    """
    browsers: dict[tuple[object, ...], Browser] = {}
    pages: list[ParticipantPage] = []
    request.node.stash[_open_pages_key] = pages

    def open_page(
        who: str | Participant,
        *,
        url: str | None = None,
        server: NetcallAPI | None = None,
        base_url: str | None = None,
        sdk: str = "window.netcall",
        open: bool = True,
        **media: Unpack[ParticipantMedia],
    ) -> ParticipantPage:
        person = make_participant(who, index=len(pages), **media)
        if base_url is None:
            base_url = (server or request.getfixturevalue("netcall_server")).url
        key = person.media_key
        if key not in browsers:
            assert len(browsers) < MAX_BROWSERS, (
                f"more than {MAX_BROWSERS} Chromium processes in one test; "
                "share media between participants (Participant.with_account)"
            )
            browsers[key] = launch_chromium(netcall_playwright, media_files_for(person, netcall_media_dir))
        page = open_participant_page(browsers[key], person, base_url, files_dir=tmp_path)
        page.sdk = sdk
        pages.append(page)
        if url is not None:
            page.page.goto(url)
        elif open:
            page.page.goto(base_url + "/")
        return page

    yield open_page
    for page in pages:
        with contextlib.suppress(Exception):  # the browser may be gone; its errors still count
            page.context.close()
    for browser in browsers.values():
        with contextlib.suppress(Exception):
            browser.close()
    problems = [f"{page.account}: {error}" for page in pages for error in page.errors]
    assert not problems, "browser errors:\n" + "\n".join(problems)
