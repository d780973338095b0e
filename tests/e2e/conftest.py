"""Fixtures for the end-to-end tests: a real Daphne, Chromium per participant, fake media.

Fixtures (for tests that build on these):

- ``daphne_server(**env) -> DaphneServer`` (session): a server with extra environment
  variables (e.g. ``NETCALL_ROOM_CAPACITY="2"``); one server per distinct env, reused.
- ``netcall_server -> DaphneServer`` (session): the server with the default settings.
- ``e2e_media_dir -> Path`` (session): where the WAV/Y4M files are written.
- ``media_for(participant) -> MediaFiles``: the fake-capture files of a participant.
- ``playwright_driver -> Playwright`` (module scope; see the fixture).
- ``chromium_for(participant) -> Browser``: the Chromium process reading that participant's
  tone and colour; one per distinct (tone, colour), at most MAX_BROWSERS per test.
- ``open_participant(participant, server=None, *, base_url=None) -> ParticipantPage``: a new context and page
  in that participant's Chromium; pageerror / console.error fail the test at teardown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support.browser import ParticipantPage, launch_chromium, open_participant_page
from tests.support.media import MediaFiles, Participant, media_files_for
from tests.support.server import DaphneServer, ServerFactory, start_daphne

E2E_DIR = Path(__file__).resolve().parent
E2E_TIMEOUT_SECONDS = 180
MAX_BROWSERS = 3  # two cores: three meshed browsers is what the machine carries

MediaFactory = Callable[[Participant], MediaFiles]
BrowserFactory = Callable[[Participant], Browser]
PageFactory = Callable[..., ParticipantPage]

_running_servers: list[DaphneServer] = []
_open_pages_key = pytest.StashKey[list[ParticipantPage]]()
_log_offsets_key = pytest.StashKey[dict[int, int]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test with a real Daphne server and Chromium browsers")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_SECONDS))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_log_offsets_key] = {id(s): s.log_size() for s in _running_servers}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and item.get_closest_marker("e2e") is not None:
        offsets = item.stash.get(_log_offsets_key, {})
        for server in _running_servers:
            text = server.log_text(since=offsets.get(id(server), 0))
            report.sections.append((f"daphne {server.url} log (this test)", text[-20000:]))
        for page in item.stash.get(_open_pages_key, []):
            report.sections.append((f"browser console: {page.account}", "\n".join(page.console[-200:])))
    return report


@pytest.fixture(scope="session")
def daphne_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Factory: ``daphne_server(**env)`` starts (or reuses) a server with extra settings."""
    servers: dict[tuple[tuple[str, str], ...], DaphneServer] = {}

    def get(**env: str) -> DaphneServer:
        key = tuple(sorted((k, str(v)) for k, v in env.items()))
        if key not in servers:
            server = start_daphne(tmp_path_factory.mktemp("daphne"), dict(key))
            servers[key] = server
            _running_servers.append(server)
        return servers[key]

    yield get
    for server in servers.values():
        server.stop()
        _running_servers.remove(server)


@pytest.fixture(scope="session")
def netcall_server(daphne_server: ServerFactory) -> DaphneServer:
    """The server with default settings."""
    return daphne_server()


@pytest.fixture(scope="session")
def e2e_media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fake-media")


@pytest.fixture(scope="session")
def media_for(e2e_media_dir: Path) -> MediaFactory:
    def get(participant: Participant) -> MediaFiles:
        return media_files_for(participant, e2e_media_dir)

    return get


@pytest.fixture(scope="module", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API leaves its event loop registered as running in this thread, and
    Django refuses ORM calls while a loop runs. Allowed for the end-to-end modules only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """Module-scoped: stopping Playwright unregisters its event loop, which would otherwise
    break asyncio-based tests that run later in the same session."""
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def chromium_for(playwright_driver: Playwright, media_for: MediaFactory) -> Iterator[BrowserFactory]:
    """Factory: the Chromium process for a participant's media (shared by equal media)."""
    browsers: dict[tuple[int, tuple[int, int, int], str], Browser] = {}

    def get(participant: Participant) -> Browser:
        key = (participant.tone_hz, participant.rgb, participant.media)
        if key not in browsers:
            assert len(browsers) < MAX_BROWSERS, (
                f"more than {MAX_BROWSERS} Chromium processes in one test; "
                "share media between participants (Participant.with_account)"
            )
            browsers[key] = launch_chromium(playwright_driver, media_for(participant))
        return browsers[key]

    yield get
    for browser in browsers.values():
        browser.close()


@pytest.fixture
def open_participant(
    request: pytest.FixtureRequest,
    chromium_for: BrowserFactory,
) -> Iterator[PageFactory]:
    """Factory: ``open_participant(participant, server=None) -> ParticipantPage``.

    At teardown, fails the test if any page had a pageerror or an unexpected console.error.
    """
    pages: list[ParticipantPage] = []
    request.node.stash[_open_pages_key] = pages

    def open_page(
        participant: Participant, server: DaphneServer | None = None, *, base_url: str | None = None
    ) -> ParticipantPage:
        """`base_url` (e.g. a proxy in front of servers) overrides the server's own address."""
        if base_url is None:
            if server is None:
                server = request.getfixturevalue("netcall_server")
            base_url = server.url
        page = open_participant_page(chromium_for(participant), participant, base_url)
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        with contextlib.suppress(Exception):  # the browser may be gone; its errors still count
            page.context.close()
    problems = [f"{page.account}: {error}" for page in pages for error in page.errors]
    assert not problems, "browser errors:\n" + "\n".join(problems)
