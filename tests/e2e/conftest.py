"""The end-to-end suite's own fixtures, on the test kit's (`recording.testing.plugin`, loaded with
`-p recording.testing.plugin` in pyproject.toml's addopts): `netcall_server`, `participant`,
`webhook_receiver`, `netcall_media_dir`, `netcall_playwright` come from there.

- ``daphne_server(**env) -> NetcallServer`` (session): a server with extra environment variables (e.g.
  ``NETCALL_ROOM_CAPACITY="2"``); one server per distinct env, reused; no env: the kit's `netcall_server`.
- ``media_for(participant) -> MediaFiles``: the fake-capture files of a participant.
- ``playwright_driver`` / ``e2e_media_dir``: the kit's ``netcall_playwright`` / ``netcall_media_dir``.
- ``open_participant(participant, server=None, *, base_url=None) -> ParticipantPage``: the kit's
  ``participant`` factory on a blank page (the tests open the room themselves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Playwright

from recording.testing.browser import ParticipantPage
from recording.testing.capture import MediaFiles, Participant, media_files_for
from recording.testing.plugin import ParticipantFactory, forget_server, register_server
from recording.testing.server import NetcallServer, ServerFactory, start_server

E2E_DIR = Path(__file__).resolve().parent
E2E_TIMEOUT_SECONDS = 180

MediaFactory = Callable[[Participant], MediaFiles]
PageFactory = Callable[..., ParticipantPage]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_SECONDS))


@pytest.fixture(scope="session")
def daphne_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Factory: ``daphne_server(**env)`` starts (or reuses) a server with extra settings."""
    servers: dict[tuple[tuple[str, str], ...], NetcallServer] = {}

    def get(**env: str) -> NetcallServer:
        if not env:
            server: NetcallServer = request.getfixturevalue("netcall_server")
            return server
        key = tuple(sorted((k, str(v)) for k, v in env.items()))
        if key not in servers:
            servers[key] = start_server(tmp_path_factory.mktemp("server"), dict(key))
            register_server(servers[key])
        return servers[key]

    yield get
    for server in servers.values():
        server.stop()
        forget_server(server)


@pytest.fixture(scope="session")
def e2e_media_dir(netcall_media_dir: Path) -> Path:
    return netcall_media_dir


@pytest.fixture(scope="session")
def media_for(netcall_media_dir: Path) -> MediaFactory:
    def get(participant: Participant) -> MediaFiles:
        return media_files_for(participant, netcall_media_dir)

    return get


@pytest.fixture(scope="module", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API leaves its event loop registered as running in this thread, and
    Django refuses ORM calls while a loop runs. Allowed for the end-to-end modules only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def playwright_driver(netcall_playwright: Playwright) -> Playwright:
    return netcall_playwright


@pytest.fixture
def open_participant(participant: ParticipantFactory) -> PageFactory:
    """Factory: ``open_participant(participant, server=None, *, base_url=None) -> ParticipantPage``."""

    def open_page(
        person: Participant, server: NetcallServer | None = None, *, base_url: str | None = None
    ) -> ParticipantPage:
        return participant(person, server=server, base_url=base_url, open=False)

    return open_page
