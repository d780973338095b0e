"""Shared by the upload tests: a server with its own storage, the backend API, polling helpers."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from recording.testing.server import DaphneServer, ServerFactory

API_KEY = "e2e-api-key-for-uploads"


@pytest.fixture(scope="module", name="upload_server")
def upload_server_fixture(daphne_server: ServerFactory, tmp_path_factory: pytest.TempPathFactory) -> DaphneServer:
    root = tmp_path_factory.mktemp("upload-server")
    return daphne_server(
        # the production settings: the server finishes uploads with its own in-process job worker
        # (netcall_site.test_settings turns that off for tests that run jobs themselves)
        DJANGO_SETTINGS_MODULE="netcall_site.settings",
        NETCALL_JOBS_IN_PROCESS="1",
        NETCALL_MEDIA_ROOT=str(root / "media"),
        NETCALL_UPLOAD_STAGING_DIR=str(root / "staging"),
        NETCALL_UPLOAD_IDLE_SECONDS="3",
        NETCALL_API_KEY=API_KEY,
        NETCALL_JOBS_POLL_SECONDS="1",
    )


def api(server: DaphneServer, path: str) -> Any:
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def wait_for_status(
    server: DaphneServer, recording_id: str, statuses: tuple[str, ...] = ("ready",), timeout: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = api(server, f"/api/recordings/{recording_id}")
        if data["status"] in statuses:
            return data
        assert time.monotonic() < deadline, f"recording stayed {data['status']}: {data}"
        time.sleep(0.2)  # polling interval, not a wait for a condition


def wait_for_previews(server: DaphneServer, recording_id: str, timeout: float = 90.0) -> dict[str, Any]:
    """The API's view of a recording once its previews job has run (its poster or waveform is listed)."""
    deadline = time.monotonic() + timeout
    while True:
        data = api(server, f"/api/recordings/{recording_id}")
        if data["status"] == "ready" and (data.get("posterUrl") or data.get("waveformUrl")):
            return data
        assert time.monotonic() < deadline, f"no previews for the recording: {data}"
        time.sleep(0.2)  # polling interval, not a wait for a condition


def recording_id_of(upload_url: str, token: str) -> str:
    request = urllib.request.Request(
        upload_url, method="HEAD", headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Netcall-Recording-Id"])
