"""The tus endpoint on a real Daphne, driven by the stock `tuspy` client: unchanged files, network cuts,
the library API. (Protocol details and bad input: tests/test_uploads.py.)"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import av
import pytest
from tusclient import client as tus_client

from recording.testing.server import DaphneServer
from tests.support.cutproxy import CuttingProxy
from tests.support.mediafiles import write_test_media
from tests.support.uploads import api, download, recording_id_of, upload_server_fixture, wait_for_status  # noqa: F401

pytestmark = pytest.mark.engine  # leases and row locks of concurrent uploads: again on PostgreSQL

CHANNEL = "uploads"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("clips")
    return write_test_media(directory / "clip.webm", seconds=6.0, size=(320, 240))


def tuspy_upload(server: DaphneServer, account: str, clip: Path, *, via: str | None = None, **options: Any) -> str:
    """Upload `clip` to CHANNEL as `account` with tuspy (`options` are its uploader's), through `via` (a
    proxy's address) or straight to the server; the id of the recording it made."""
    token = server.mint_token(account, CHANNEL, grants=("upload",))
    tus = tus_client.TusClient((via or server.url) + "/api/uploads/", headers={"Authorization": f"Bearer {token}"})
    uploader = tus.uploader(file_path=str(clip), **options)
    uploader.upload()
    return recording_id_of(str(uploader.url), token)


def test_tuspy_uploads_a_file_unchanged(upload_server: DaphneServer, clip: Path) -> None:
    recording_id = tuspy_upload(
        upload_server,
        "alice",
        clip,
        chunk_size=16 * 1024,
        metadata={"filename": "clip.webm", "filetype": "video/webm"},
        upload_checksum=True,
    )
    data = wait_for_status(upload_server, recording_id)
    original = download(upload_server.url + data["urls"]["original"])
    assert hashlib.sha256(original).hexdigest() == hashlib.sha256(clip.read_bytes()).hexdigest() == data["sha256"]
    assert (data["account"], data["recorder"], data["channel"]) == ("alice", "alice", CHANNEL)
    assert data["duration"] == pytest.approx(6.0, abs=0.3)
    listed = api(upload_server, f"/api/recordings?channel={CHANNEL}")["recordings"]
    assert recording_id in [r["id"] for r in listed]


def test_upload_survives_network_cuts(upload_server: DaphneServer, clip: Path) -> None:
    """The connection drops in the middle of PATCH bodies, twice; the client resumes from the server's
    offset (HEAD) and the file arrives whole."""
    proxy = CuttingProxy(upload_server.port)
    try:
        proxy.cut_after = 20_000
        proxy.cuts_left = 2
        recording_id = tuspy_upload(
            upload_server,
            "bob",
            clip,
            via=proxy.url,
            chunk_size=48 * 1024,
            metadata={"filename": "cut.webm", "filetype": "video/webm"},
            retries=5,
            retry_delay=0,
        )
        assert proxy.cuts == 2
    finally:
        proxy.close()
    data = wait_for_status(upload_server, recording_id)
    assert data["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()


def test_seekable_rendition_has_duration(upload_server: DaphneServer, clip: Path, tmp_path: Path) -> None:
    recording_id = tuspy_upload(
        upload_server, "carol", clip, chunk_size=1024 * 1024, metadata={"filetype": "video/webm"}
    )
    data = wait_for_status(upload_server, recording_id)
    seekable = tmp_path / "seekable.webm"
    seekable.write_bytes(download(upload_server.url + data["urls"]["seekable"]))
    with av.open(str(seekable)) as container:
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(6.0, abs=0.3)
        container.seek(3 * av.time_base)  # the index lets a player jump
        frame = next(container.decode(video=0))
        assert frame.time is not None and frame.time >= 2.0
