"""Recording in a real browser with `save: 'upload'`: uploaded while it runs, byte-identical on the
server, surviving a network cut, a closed tab and a reload."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import av
import pytest

from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE
from recording.testing.server import DaphneServer
from tests.support.cutproxy import CuttingProxy
from tests.support.uploads import api, download, upload_server_fixture, wait_for_status  # noqa: F401

from .conftest import PageFactory

pytestmark = pytest.mark.engine  # leases and row locks of concurrent uploads: again on PostgreSQL

LISTEN = """() => {
    window.__uploads = [];
    window.netcall.on('uploadProgress', (e) => window.__uploads.push({...e, t: Date.now()}));
}"""
STOP = """async () => {
    const r = await window.netcall.stopRecordMp4();
    const digest = await crypto.subtle.digest('SHA-256', await r.blob.arrayBuffer());
    const sha256 = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
    return {recordingId: r.recordingId, url: r.url, sha256, size: r.size, saved: r.saved, serverSha: r.sha256};
}"""


def start_upload_recording(page: ParticipantPage, channel: str) -> None:
    """Join `channel` and record yourself with `save: 'upload'`, upload progress collected in `__uploads`."""
    page.join(channel)
    page.page.evaluate(LISTEN)
    page.page.evaluate(
        "async () => { await window.netcall.startRecordMp4({save: 'upload'}); window.__started = Date.now(); }"
    )


def wait_for_uploaded_chunks(page: ParticipantPage, count: int, *, after: int = 0, timeout_ms: float = 30_000) -> None:
    """Wait until the server has acknowledged `count` PATCHes (after event index `after`)."""
    page.page.wait_for_function(
        """([n, after]) =>
            window.__uploads.slice(after).filter((e) => e.state === 'uploading' && e.sent > 0).length >= n""",
        arg=[count, after],
        timeout=timeout_ms,
    )


def uploads(page: ParticipantPage) -> list[dict[str, Any]]:
    return list(page.page.evaluate("() => window.__uploads"))


def decoded_duration(data: bytes, tmp_path: Path, name: str) -> float:
    path = tmp_path / name
    path.write_bytes(data)
    with av.open(str(path)) as container:
        times = [f.time for f in container.decode(video=0) if f.time is not None]
    return max(times) - min(times)


def test_recording_uploads_while_it_runs_and_arrives_identical(
    upload_server: DaphneServer, open_participant: PageFactory, tmp_path: Path
) -> None:
    page = open_participant(ALICE, upload_server)
    start_upload_recording(page, "upl-1")
    wait_for_uploaded_chunks(page, 3)  # bytes reach the server while recording
    result = page.page.evaluate(STOP)
    assert result["saved"] == "upload"
    assert result["recordingId"] and result["url"]
    assert result["serverSha"] == result["sha256"]
    data = wait_for_status(upload_server, result["recordingId"])
    assert data["sha256"] == result["sha256"]
    original = download(result["url"])  # the signed link works without other credentials
    assert hashlib.sha256(original).hexdigest() == result["sha256"]
    assert len(original) == result["size"]
    seekable = download(upload_server.url + data["urls"]["seekable"])
    path = tmp_path / f"seekable.{data['container']}"
    path.write_bytes(seekable)
    with av.open(str(path)) as container:
        assert container.duration is not None and container.duration / av.time_base > 2.0
    # listed in the library, and the detail page plays it (seekable: the player knows the duration)
    token = upload_server.mint_token("alice", "upl-1")
    page.page.goto(f"{upload_server.url}/recordings/upl-1/#token={token}")
    page.page.wait_for_selector(f"tr[data-recording='{result['recordingId']}']")
    page.page.click(f"tr[data-recording='{result['recordingId']}'] a")
    duration = page.page.wait_for_function(
        """() => { const p = document.getElementById('player');
                   return p && Number.isFinite(p.duration) && p.duration > 0 ? p.duration : false; }"""
    ).json_value()
    assert duration > 2.0


def test_upload_survives_a_network_cut(
    upload_server: DaphneServer, open_participant: PageFactory, tmp_path: Path
) -> None:
    proxy = CuttingProxy(upload_server.port)
    try:
        page = open_participant(ALICE, upload_server)
        page.base_url = proxy.url  # everything, signalling included, goes through the proxy
        page.allow_console_error(r"Failed to load resource|ERR_|net::")
        start_upload_recording(page, "upl-cut")
        wait_for_uploaded_chunks(page, 1)
        proxy.cuts_left = 10_000  # the network goes away for uploads...
        page.page.wait_for_function("() => window.__uploads.some((e) => e.state === 'retrying')", timeout=30_000)
        seen = len(uploads(page))
        page.page.wait_for_function(  # ...for a while, as the recording goes on
            "(n) => window.__uploads.slice(n).filter((e) => e.state === 'retrying').length >= 2", arg=seen
        )
        proxy.cuts_left = 0  # ...and comes back
        after = len(uploads(page))
        wait_for_uploaded_chunks(page, 1, after=after)
        result = page.page.evaluate(STOP)
        assert proxy.cuts >= 1
        data = wait_for_status(upload_server, result["recordingId"])
        assert data["sha256"] == result["sha256"] == result["serverSha"]
        assert hashlib.sha256(download(result["url"])).hexdigest() == result["sha256"]
    finally:
        proxy.close()


def test_closed_tab_leaves_a_partial_recording(
    upload_server: DaphneServer, open_participant: PageFactory, tmp_path: Path
) -> None:
    page = open_participant(ALICE, upload_server)
    start_upload_recording(page, "upl-crash")
    wait_for_uploaded_chunks(page, 5)
    # the moment the server had everything recorded so far (a loaded machine may lag behind)
    recorded = page.page.wait_for_function(
        """(after) => {
            const e = window.__uploads.slice(after).find((e) => e.state === 'uploading' && e.sent === e.size);
            return e ? (e.t - window.__started) / 1000 : false;
        }""",
        arg=len(uploads(page)),
    ).json_value()
    # The tab dies mid-recording: no stop, no goodbye. (Closing the page politely would run the demo
    # page's pagehide handler, which leaves the channel and so stops the recording and completes the
    # upload: the ordinary case. A crash runs nothing, so neither may the test.)
    page.page.evaluate("() => { window.netcall.leaveChannel = async () => {}; }")
    page.context.route("**/api/uploads/**", lambda route: route.abort())
    page.context.close()
    deadline = time.monotonic() + 60
    while True:
        listed = api(upload_server, "/api/recordings?channel=upl-crash")["recordings"]
        if listed and listed[0]["status"] == "partial":
            break
        assert time.monotonic() < deadline, f"no partial recording: {listed}"
        time.sleep(0.2)  # polling interval
    data = listed[0]
    duration = decoded_duration(download(upload_server.url + data["urls"]["original"]), tmp_path, "partial.webm")
    assert duration >= recorded - 3.0, (duration, recorded)


def test_reload_mid_recording_completes_the_upload_on_the_next_page(
    upload_server: DaphneServer, open_participant: PageFactory
) -> None:
    page = open_participant(ALICE, upload_server)
    start_upload_recording(page, "upl-reload")
    wait_for_uploaded_chunks(page, 3)
    last_size = max(e["size"] for e in uploads(page))
    page.reload()  # the page dies mid-recording; the next one finishes the upload from IndexedDB
    deadline = time.monotonic() + 60
    while True:
        listed = api(upload_server, "/api/recordings?channel=upl-reload")["recordings"]
        if listed and listed[0]["status"] == "partial" and listed[0]["size"] >= last_size:
            uploads_left = page.page.evaluate(
                """() => new Promise((resolve) => {
                    const open = indexedDB.open('netcall-uploads');
                    open.onsuccess = () => {
                        const tx = open.result.transaction('uploads', 'readonly');
                        const all = tx.objectStore('uploads').getAll();
                        all.onsuccess = () => resolve(all.result.length);
                    };
                })"""
            )
            if uploads_left == 0:
                break
        assert time.monotonic() < deadline, f"upload not completed after reload: {listed}"
        time.sleep(0.2)  # polling interval
    head = api(upload_server, f"/api/recordings/{listed[0]['id']}")
    assert head["sha256"]
