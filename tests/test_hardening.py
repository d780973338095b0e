"""Issue 14 through the public interface: HEAD, served types, names, RTMP targets (see also
tests/unit/test_net.py for every address spelling and tests/e2e/test_first_hour.py for the README)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from recording.jobs.queue import jobs_run_pending
from recording.models import LiveSession, Member
from recording.tokens import token_mint
from tests.support.live.client import LiveClient
from tests.support.mediafiles import write_test_media
from tests.support.tus_client import create, meta, patch, use_upload_dirs

pytestmark = pytest.mark.django_db

API_KEY = "hardening-api-key"
HOSTILE_NAMES = [
    "demo\u202e",
    "a\u200bb",
    "zero\u2060width",
    "line\u2028sep",
    "para\u2029sep",
    "c1\u0085ctl",
    "bom\ufeff",
]


@pytest.fixture(autouse=True)
def _dirs(settings: Any, tmp_path: Path) -> None:
    use_upload_dirs(settings, tmp_path)
    settings.NETCALL_API_KEY = API_KEY


def _uploaded(client: Client, path: Path, *, filetype: str) -> str:
    """Upload a file whole; the signed download path of its recording once finished."""
    body = path.read_bytes()
    location = create(client, length=len(body), metadata=meta(filename=path.name, filetype=filetype))
    response = patch(client, location, 0, body)
    assert response.status_code == 204, response.content
    jobs_run_pending()
    return response["Netcall-Recording-Url"].removeprefix("http://testserver")


# --- 4. HEAD works wherever GET does ------------------------------------------------------------------


def test_head_answers_wherever_get_does(client: Client, tmp_path: Path) -> None:
    download = _uploaded(client, write_test_media(tmp_path / "clip.webm"), filetype="video/webm")
    api = {"Authorization": f"Bearer {API_KEY}"}
    for url, headers in [
        ("/", {}),
        ("/room/demo/?account=alice", {}),
        ("/embed/embed.js", {}),
        ("/recordings/room1/", {}),
        (download, {}),
        ("/api/recordings", api),
    ]:
        got = client.get(url, headers=headers)
        head = client.head(url, headers=headers)
        assert head.status_code == got.status_code != 405, (url, head.status_code, got.status_code)
        if not head.streaming:  # a streamed download's body is dropped by the server, not the view
            assert head.content == b"", url
        assert head.get("Content-Type") == got.get("Content-Type"), url


# --- 7. served types come from the content ------------------------------------------------------------


@pytest.mark.parametrize("claimed", ["text/html", "image/svg+xml", "video/mp4"])
def test_a_download_is_served_as_what_it_is_not_as_claimed(client: Client, tmp_path: Path, claimed: str) -> None:
    mp4 = write_test_media(tmp_path / "clip.mp4", container="mp4")
    download = _uploaded(client, mp4, filetype=claimed)
    for url in (download, download + ("&" if "?" in download else "?") + "inline=1"):
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "video/mp4"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_an_audio_only_webm_is_served_as_audio(client: Client, tmp_path: Path) -> None:
    from recording.library.storage import served_type

    assert served_type("webm", has_video=False) == "audio/webm"
    assert served_type("html", has_video=True) == "application/octet-stream"


# --- 10. names are clean ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused_by_the_token_api(client: Client, name: str) -> None:
    for body in ({"account": name, "channel": "demo"}, {"account": "alice", "channel": name}):
        response = client.post(
            "/api/tokens", body, content_type="application/json", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_request"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("name", HOSTILE_NAMES[:3])
async def test_hostile_channel_names_are_refused_at_join(name: str) -> None:
    client = await LiveClient.connect("alice")
    try:
        token = token_mint(account="alice", channel="demo")
        reply = await client.request("join", token=token, channel=name)
        assert (reply["type"], reply.get("code")) == ("error", "bad_message"), reply
    finally:
        await client.close()


# --- 5. RTMP push targets ---------------------------------------------------------------------------


@pytest.fixture
def loopback_listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP listener on loopback that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()
    for connection in accepted:
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("spelling", ["127.0.0.1", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]", "localhost"])
async def test_a_loopback_push_target_is_refused_before_anything_connects(
    settings: Any, loopback_listener: tuple[int, list[socket.socket]], spelling: str
) -> None:
    settings.NETCALL_LIVE_RTMP_ALLOWED_HOSTS = []
    port, accepted = loopback_listener
    host = await LiveClient.connect("alice")
    try:
        reply = await host.join("room", {"liveEnable": True, "rtmpUrl": f"rtmp://{spelling}:{port}/live/x"})
        assert (reply["type"], reply.get("code")) == ("error", "bad_rtmp_url"), reply
        assert str(port) not in reply["message"] and "refused" not in reply["message"].lower()
    finally:
        await host.close()
    assert not await LiveSession.objects.aexists()
    assert accepted == []


def test_hosting_needs_the_live_grant() -> None:
    from recording.live.services import live_request_parse

    with pytest.raises(Exception) as refused:
        live_request_parse(
            {"liveEnable": True, "rtmpUrl": "rtmp://push.example/live/x"}, may_host=False, may_record=True
        )
    assert getattr(refused.value, "code", None) == "forbidden"
    cohost = live_request_parse({"liveEnable": True}, may_host=False, may_record=False)
    assert cohost is not None and cohost.role == "cohost"


# --- 11. the WebSocket origin check is exact ---------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("origin", "host", "listed", "accepted"),
    [
        (b"http://127.0.0.1:8000", b"127.0.0.1:8000", [], True),
        (b"http://127.0.0.1:9999", b"127.0.0.1:8000", [], False),  # same host, another port
        (b"https://127.0.0.1:8000", b"127.0.0.1:8000", [], False),  # another scheme
        (b"http://localhost:8000", b"127.0.0.1:8000", [], False),  # another host
        (b"http://127.0.0.1:8000", b"evil.example:8000", [], False),  # a Host we do not serve
        (b"http://127.0.0.1:8000", None, [], False),
        (b"https://app.example", b"127.0.0.1:8000", ["https://app.example"], True),
        (b"https://app.example:8443", b"127.0.0.1:8000", ["https://app.example"], False),
    ],
)
async def test_websocket_origin_must_match_exactly(
    settings: Any, origin: bytes, host: bytes | None, listed: list[str], accepted: bool
) -> None:
    from channels.testing import WebsocketCommunicator

    from netcall_site.asgi import application

    settings.NETCALL_WS_ORIGINS = listed
    headers = [(b"origin", origin)] + ([(b"host", host)] if host else [])
    communicator = WebsocketCommunicator(application, "/ws/netcall/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected is accepted
    await communicator.disconnect()


# --- 2. identity is the token's ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_join_claiming_another_account_than_the_tokens_is_refused() -> None:
    client = await LiveClient.connect("alice")
    try:
        bobs = token_mint(account="bob", channel="demo")
        refused = await client.request("join", token=bobs, channel="demo", account="alice")
        assert (refused["type"], refused.get("code")) == ("error", "token_wrong_account"), refused
        assert not await Member.objects.filter(account="bob").aexists()
        joined = await client.request("join", token=bobs, channel="demo", account="bob")
        assert joined["type"] == "ack" and joined["data"]["self"]["account"] == "bob"
    finally:
        await client.close()


# --- 9. tokens stay out of URLs, and can be revoked ---------------------------------------------------


def test_pages_take_tokens_by_post_into_an_httponly_session_that_expires_with_them(
    client: Client, settings: Any
) -> None:
    settings.NETCALL_GUEST_MODE = False
    token = token_mint(account="carol", channel="demo", ttl=600)
    assert client.get(f"/room/demo/?token={token}").status_code == 400
    assert client.get(f"/recordings/demo/?token={token}").status_code == 400
    response = client.post("/room/demo/", {"token": token})
    assert response.status_code == 302 and "token" not in response["Location"]
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert 590 <= int(cookie["max-age"]) <= 600
    assert client.get("/room/demo/").context["config"]["account"] == "carol"
    assert client.get("/recordings/demo/").status_code == 200  # the same session opens the library


def test_a_revoked_token_is_refused_everywhere(client: Client, settings: Any) -> None:
    from django.core.management import call_command

    settings.NETCALL_GUEST_MODE = False
    token = token_mint(account="carol", channel="room1", grants=("publish", "upload"))
    assert client.post("/recordings/room1/", {"token": token}).status_code == 302
    assert client.get("/recordings/room1/").status_code == 200
    revoked = client.post(
        "/api/tokens/revoke",
        {"token": token},
        content_type="application/json",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert client.get("/recordings/room1/").status_code == 403  # the kept session token no longer opens it
    assert client.post("/room/room1/", {"token": token}).status_code == 403
    upload = client.post(
        "/api/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Authorization": f"Bearer {token}"}
    )
    assert upload.status_code == 401 and upload.json()["error"]["code"] == "token_revoked"
    call_command("netcall_revoke", token)  # the command says so, and does not fail, the second time


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_revoked_token_cannot_join() -> None:
    from channels.db import database_sync_to_async

    from recording.tokens import token_revoke, token_verify

    token = token_mint(account="alice", channel="demo")
    await database_sync_to_async(token_revoke)(token_verify(token), by="test")
    client = await LiveClient.connect("alice")
    try:
        reply = await client.request("join", token=token, channel="demo")
        assert (reply["type"], reply.get("code")) == ("error", "token_revoked"), reply
    finally:
        await client.close()
