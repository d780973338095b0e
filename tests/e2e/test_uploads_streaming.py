"""Uploads stream through the server as `make run` starts it (`python -m netcall_site.serve`): stock clients
with their defaults send files of hundreds of MiB in one PATCH with flat server memory, refused PATCHes are
answered before their bodies are read, and a PATCH cut mid-body keeps what arrived.

Each case gets a fresh server: memory freed by one upload would be reused by the next and hide its growth
(see TESTING.md). Files are sparse (`write_sparse_marked`) so the suite stays fast, and are removed after."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from recording.testing.server import DaphneServer, start_daphne
from recording.uploads.streaming import CUT_LOSS_BYTES
from tests.support.bigfiles import MIB, RawRequest, RssPeak, file_sha256, write_sparse_marked
from tests.support.cutproxy import CuttingProxy
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.engine  # leases and row locks of concurrent uploads: again on PostgreSQL

BIG = 384 * MIB
RSS_GROWTH_LIMIT = 64 * MIB
CHANNEL = "streaming"
NODE_SCRIPT = REPO_ROOT / "tests" / "support" / "tus_js_upload.mjs"
TUS_JS_CLIENT = REPO_ROOT / "node_modules" / "tus-js-client" / "package.json"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DaphneServer]:
    """A fresh server, as `make run` starts it; the job worker off, so the stored file stays as received."""
    started = start_daphne(
        tmp_path / "server",
        {
            "DJANGO_SETTINGS_MODULE": "netcall_site.settings",
            "NETCALL_JOBS_IN_PROCESS": "0",
            "NETCALL_MEDIA_ROOT": str(tmp_path / "media"),
            "NETCALL_UPLOAD_STAGING_DIR": str(tmp_path / "staging"),
        },
    )
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(tmp_path / "media", ignore_errors=True)
        shutil.rmtree(tmp_path / "staging", ignore_errors=True)


@pytest.fixture
def big_file(tmp_path: Path) -> Iterator[Path]:
    path = write_sparse_marked(tmp_path / "big.webm", BIG)
    yield path
    path.unlink(missing_ok=True)


def tus_headers(token: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"Tus-Resumable": "1.0.0", **extra}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def head(url: str, token: str) -> Message:
    """The HEAD answer's headers (names case-insensitive)."""
    request = urllib.request.Request(url, method="HEAD", headers=tus_headers(token))
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers


def create_upload(server: DaphneServer, token: str, length: int) -> str:
    metadata = (
        "filename " + base64.b64encode(b"big.webm").decode() + ",filetype " + base64.b64encode(b"video/webm").decode()
    )
    request = urllib.request.Request(
        server.url + "/api/uploads/",
        method="POST",
        headers=tus_headers(token, **{"Upload-Length": str(length), "Upload-Metadata": metadata}),
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return str(response.headers["Location"])


def warm_up(server: DaphneServer, token: str) -> None:
    """One small upload first: the code paths are loaded and the thread pool is up before RSS is sampled."""
    url = create_upload(server, token, 4)
    request = urllib.request.Request(
        url,
        method="PATCH",
        data=b"warm",
        headers=tus_headers(token, **{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}),
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204


def stored_originals(root: Path) -> list[Path]:
    return sorted(root.glob("recordings/*/original-*"))


def wait_for_offset(url: str, token: str, at_least: int, timeout: float = 60.0) -> int:
    """The server's offset once it reaches `at_least` (the cut PATCH's bytes are written and released)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        offset = int(head(url, token)["Upload-Offset"])
        if offset >= at_least or time.monotonic() > deadline:
            return offset
        time.sleep(0.1)  # polling interval, not a wait for a condition


def test_stock_tus_js_client_uploads_hundreds_of_mib_in_one_patch_with_flat_memory(
    server: DaphneServer, big_file: Path, tmp_path: Path
) -> None:
    assert TUS_JS_CLIENT.exists(), "tus-js-client is missing: `make test` installs it (npm ci, package.json)"
    token = server.mint_token("alice", CHANNEL, grants=["upload"])
    warm_up(server, token)
    log_start = server.log_size()
    with RssPeak(server.process.pid) as rss:
        result = subprocess.run(
            ["node", str(NODE_SCRIPT), server.url + "/api/uploads/", token, str(big_file)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    assert result.returncode == 0, (result.stdout, result.stderr)
    url = json.loads(result.stdout.strip().splitlines()[-1])["url"]
    expected = file_sha256(big_file)
    answer = head(url, token)
    assert int(answer["Upload-Offset"]) == BIG
    assert answer["Netcall-Recording-Sha256"] == expected  # hashed while writing
    originals = stored_originals(tmp_path / "media")
    assert len(originals) == 2  # the warm-up's and this one
    assert expected in {file_sha256(path) for path in originals if path.stat().st_size == BIG}
    log = server.log_text(since=log_start)
    assert log.count('"PATCH /api/uploads/') == 1, log  # tus-js-client's default: the whole file in one PATCH
    assert rss.growth < RSS_GROWTH_LIMIT, f"server RSS grew {rss.growth / MIB:.1f} MiB for a {BIG // MIB} MiB upload"


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [("nobody", 401, "token_missing"), ("bob", 403, "forbidden")],
    ids=["unauthenticated", "someone-elses-upload"],
)
def test_refused_patch_is_answered_before_its_body_and_memory_stays_flat(
    server: DaphneServer, who: str, status: int, code: str
) -> None:
    alice = server.mint_token("alice", CHANNEL, grants=["upload"])
    warm_up(server, alice)
    url = create_upload(server, alice, BIG)
    path = "/" + url.split("/", 3)[3]
    token = None if who == "nobody" else server.mint_token(who, CHANNEL, grants=["upload"])
    headers = tus_headers(
        token,
        **{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "Content-Length": str(BIG)},
    )
    with RssPeak(server.process.pid) as rss:
        request = RawRequest(server.port, "PATCH", path, headers)
        try:
            assert request.send(bytes(MIB))
            # Answered while almost all of the body is still unsent: refused from the headers alone.
            response = request.response(timeout=30)
            assert response.status == status
            assert json.loads(response.read())["error"]["code"] == code
            request.send_zeros(BIG - MIB)  # the rest goes to a server that discards it
        finally:
            request.close()
    assert int(head(url, alice)["Upload-Offset"]) == 0
    assert rss.growth < RSS_GROWTH_LIMIT, (
        f"server RSS grew {rss.growth / MIB:.1f} MiB for a refused {BIG // MIB} MiB body"
    )


def test_cut_patch_keeps_what_arrived_and_the_client_completes_from_there(server: DaphneServer, tmp_path: Path) -> None:
    size = 24 * MIB
    source = write_sparse_marked(tmp_path / "cut.webm", size)
    token = server.mint_token("carol", CHANNEL, grants=["upload"])
    proxy = CuttingProxy(server.port)
    try:
        proxy.cut_after = 9 * MIB  # bytes of the PATCH connection forwarded before the cut, headers included
        proxy.cuts_left = 1
        tus = tus_client.TusClient(proxy.url + "/api/uploads/", headers={"Authorization": f"Bearer {token}"})
        uploader = tus.uploader(
            file_path=str(source), chunk_size=size * 2, metadata={"filename": "cut.webm", "filetype": "video/webm"}
        )
        with pytest.raises((TusCommunicationError, TusUploadFailed, OSError)):
            uploader.upload()  # one PATCH for the whole file, cut after 9 MiB
        assert proxy.cuts == 1
        url = str(uploader.url).replace(proxy.url, server.url)
    finally:
        proxy.close()
    # What reached the server: the forwarded bytes less the request's headers (under 2 KiB); what may be
    # lost with the connection: at most one write buffer of them.
    reached_at_least = proxy.cut_after - 2048
    offset = wait_for_offset(url, token, reached_at_least - CUT_LOSS_BYTES)
    assert reached_at_least - CUT_LOSS_BYTES <= offset <= proxy.cut_after, offset
    resumed = tus_client.TusClient(server.url + "/api/uploads/", headers={"Authorization": f"Bearer {token}"})
    rest = resumed.uploader(file_path=str(source), url=url, chunk_size=size * 2)
    assert rest.offset == offset  # it starts where the server is, not at 0
    rest.upload()
    assert head(url, token)["Netcall-Recording-Sha256"] == file_sha256(source)


def test_other_endpoints_cap_their_bodies(server: DaphneServer) -> None:
    """POST /api/tokens with 2 MiB: 413 `body_too_large` from the server itself, the body unread."""
    request = RawRequest(server.port, "POST", "/api/tokens", {"Content-Length": str(2 * MIB)})
    try:
        response = request.response(timeout=30)
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "body_too_large"
    finally:
        request.close()
