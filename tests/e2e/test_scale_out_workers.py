"""Past one machine, the media side: the server recorder of a live session runs in a separate recorder
worker process (`manage.py runworker netcall-recorder`) that finds the session through the Redis channel
layer, and the durable jobs (finishing the files, the callback) in a separate `manage.py netcall_jobs`
process; the web process (Daphne, NETCALL_RECORDER_IN_PROCESS=0, NETCALL_JOBS_IN_PROCESS=0) only relays.

The broadcasters are aiortc publishers (a colour and a tone each) speaking the netcall protocol over a
real WebSocket to Daphne."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from recording.live.callbacks import callback_verify
from recording.live.services import RECORDER_ACCOUNT
from recording.testing.server import DaphneServer, free_port, start_daphne
from recording.testing.webhooks import CallbackReceiver
from tests.support.live.broadcast import EXPECTED_FILES
from tests.support.live.client import LiveClient
from tests.support.live.media import colour_share, decode, has_tone
from tests.support.paths import REPO_ROOT
from tests.support.scale import ManagedProcess, log_sections, shared_backends_env, start_manage

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio, pytest.mark.timeout(150)]

RED, BLUE = (220, 40, 40), (40, 40, 220)
HOST_HZ, COHOST_HZ = 440, 660
PUBLIC_URL = "http://netcall.invalid"  # the callback's links; the test fetches them from the server itself
CALLBACK_SECRET = "scale-out-callback-secret"
FRAGMENTS_PER_FILE = 2  # recorded long enough: every file holds this many fragments (video: 2 s each)
IN_PROCESS_RECORDER = "Recorder worker started in this process"


@dataclass
class Deployment:
    web: DaphneServer
    recorder: ManagedProcess
    jobs: ManagedProcess
    spool: Path

    def logs(self) -> str:
        return log_sections(
            {"daphne": self.web.log_text, "recorder": self.recorder.log_text, "jobs": self.jobs.log_text}
        )


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def deployment(tmp_path: Path, receiver: CallbackReceiver) -> Iterator[Deployment]:
    with shared_backends_env() as env:
        spool = tmp_path / "spool"
        env.update(
            {
                "NETCALL_RECORDER_IN_PROCESS": "0",
                "NETCALL_JOBS_IN_PROCESS": "0",
                "NETCALL_LIVE_SPOOL_DIR": str(spool),
                "NETCALL_MEDIA_ROOT": str(tmp_path / "media"),
                "NETCALL_UPLOAD_STAGING_DIR": str(tmp_path / "uploads"),
                "NETCALL_LIVE_WIDTH": "320",
                "NETCALL_LIVE_HEIGHT": "180",
                "NETCALL_LIVE_RTMP_RETRY_MAX_SECONDS": "2",
                "NETCALL_PUBLIC_URL": PUBLIC_URL,
                "NETCALL_CALLBACK_URL": receiver.url,
                "NETCALL_CALLBACK_SECRET": CALLBACK_SECRET,
            }
        )
        web = start_daphne(tmp_path / "web", env)
        processes: list[ManagedProcess] = []
        try:
            processes.append(
                start_manage(["runworker", "netcall-recorder"], env=web.env, log_path=tmp_path / "recorder.log")
            )
            processes.append(start_manage(["netcall_jobs"], env=web.env, log_path=tmp_path / "jobs.log"))
            deployment = Deployment(web, processes[0], processes[1], spool)
            yield deployment
            print(deployment.logs())  # pytest shows it when the test failed
        finally:
            for process in processes:
                process.stop()
            web.stop()


@pytest.fixture
def rtmp_listener(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    script = REPO_ROOT / "tests" / "support" / "live" / "rtmp_listener.py"
    process = subprocess.Popen(
        [sys.executable, str(script), str(port), str(tmp_path / "pushed.flv"), "90"], stdout=subprocess.PIPE, text=True
    )
    yield f"rtmp://127.0.0.1:{port}/live/test", process
    if process.poll() is None:
        process.kill()
    process.wait()


class _WebSocket:
    """What LiveClient uses of Channels' WebsocketCommunicator, over a real WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send_to(self, *, text_data: str) -> None:
        await self.ws.send(text_data)

    async def receive_from(self, timeout: float) -> str:
        return str(await asyncio.wait_for(self.ws.recv(), timeout))

    async def disconnect(self) -> None:
        await self.ws.close()


class RemoteLiveClient(LiveClient):
    """A LiveClient connected to a real server, joining with a token that server minted."""

    token = ""

    @classmethod
    async def open(cls, server: DaphneServer, account: str, channel: str) -> RemoteLiveClient:
        url = server.url.replace("http://", "ws://") + "/ws/netcall/"
        ws = await connect(url, origin=server.url, ping_interval=None)  # type: ignore[arg-type]
        client = cls(account, _WebSocket(ws))  # type: ignore[arg-type]
        # host and co-host of a recorded broadcast: hosting needs 'live', rtmpRecord needs 'record'
        grants = ("publish", "record", "live")
        client.token = await asyncio.to_thread(lambda: server.mint_token(account, channel, grants=grants))
        return client

    async def join(self, channel: str, live: dict[str, Any] | None = None, **token_args: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"token": self.token, "channel": channel, "media": {"audio": True, "video": True}}
        if live is not None:
            body["live"] = live
        return await self.request("join", **body)


MATROSKA_CLUSTER_ID = bytes.fromhex("1F43B675")


def _fragments(path: Path) -> int:
    """How many `moof` boxes a fragmented MP4 (the composite) holds so far (top-level boxes only), or how
    many 2-second spans a member's WebM/Matroska file does (its clusters last at most a second)."""
    if path.suffix in (".webm", ".mkv"):
        return path.read_bytes().count(MATROSKA_CLUSTER_ID) // 2
    count, offset, data = 0, 0, path.read_bytes()
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        if data[offset + 4 : offset + 8] == b"moof":
            count += 1
        if size < 8:
            break
        offset += size
    return count


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, timeout: float, what: str, logs: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{logs}"
        await asyncio.sleep(0.2)  # polling interval


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        return bytes(response.read())


async def test_live_session_is_recorded_by_a_separate_worker_and_finished_by_the_job_process(
    deployment: Deployment,
    receiver: CallbackReceiver,
    rtmp_listener: tuple[str, subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    web = deployment.web
    rtmp_url, listener = rtmp_listener
    channel = f"workers-{time.time_ns() % 10**9}"
    host, cohost = await asyncio.gather(
        RemoteLiveClient.open(web, "alice", channel), RemoteLiveClient.open(web, "bob", channel)
    )
    try:
        reply = await host.join(channel, {"liveEnable": True, "rtmpUrl": rtmp_url, "rtmpRecord": True})
        assert reply["type"] == "ack", reply
        reply = await cohost.join(channel, {"liveEnable": True})
        assert reply["type"] == "ack", reply
        await asyncio.gather(
            host.publish_to_recorder(rgb=RED, hz=HOST_HZ, timeout=45),
            cohost.publish_to_recorder(rgb=BLUE, hz=COHOST_HZ, timeout=45),
        )
        pushing = await host.wait_for(lambda f: f["type"] == "live.state" and f["state"] == "pushing", 45)
        assert pushing["recording"] is True

        def recorded_enough() -> bool:
            files = list(deployment.spool.glob("*/*"))
            return len(files) == 5 and all(_fragments(f) >= FRAGMENTS_PER_FILE for f in files)

        await eventually(recorded_enough, timeout=60, what="five spool files with media", logs=deployment.logs())
        assert (await host.request("leave"))["type"] == "ack"
        await cohost.wait_for(lambda f: f["type"] == "member.left" and f["account"] == RECORDER_ACCOUNT, 60)
    finally:
        await asyncio.gather(host.close(), cohost.close(), return_exceptions=True)

    # --- who did the work: the recorder worker recorded, the web process did not -----------------------
    await eventually(
        lambda: bool(receiver.requests), timeout=90, what="the callback from netcall_jobs", logs=deployment.logs()
    )
    deployment.recorder.assert_running()
    deployment.jobs.assert_running()
    assert "live in" in deployment.recorder.log_text(), deployment.logs()
    assert IN_PROCESS_RECORDER not in web.log_text() and "live in" not in web.log_text(), deployment.logs()
    summary = json.loads((await asyncio.to_thread(listener.communicate, None, 60))[0])
    assert summary["codecs"] == {"video": "h264", "audio": "aac"}, summary

    # --- the callback, posted by the job process, lists five ready files that decode ------------------
    request = receiver.requests[0]
    assert request.answered == 200
    assert callback_verify(
        CALLBACK_SECRET, request.headers["X-Netcall-Timestamp"], request.body, request.headers["X-Netcall-Signature"]
    )
    payload = json.loads(request.body)
    assert payload["channel"] == channel and payload["host"] == "alice" and payload["endReason"] == "host_left"
    files = {(f["kind"], f["account"]): f for f in payload["files"]}
    assert set(files) == EXPECTED_FILES
    for (kind, account), entry in files.items():
        assert entry["status"] == "ready", entry
        body = await asyncio.to_thread(_fetch, entry["url"].replace(PUBLIC_URL, web.url))
        assert len(body) == entry["size"] and hashlib.sha256(body).hexdigest() == entry["sha256"]
        path = tmp_path / f"{kind}-{account}.mp4"
        path.write_bytes(body)
        decoded = decode(path)
        duration = decoded.video_duration if kind != "audio" else decoded.audio_duration
        assert duration is not None and duration >= 2 * FRAGMENTS_PER_FILE - 1, (kind, account, duration)
        if kind == "composite":
            image = decoded.video_frames[len(decoded.video_frames) // 2]
            assert colour_share(image, RED) > 0.3 and colour_share(image, BLUE) > 0.03
            assert has_tone(decoded.audio, HOST_HZ) and has_tone(decoded.audio, COHOST_HZ)
        elif kind == "video":
            mine = RED if account == "alice" else BLUE
            assert colour_share(decoded.video_frames[len(decoded.video_frames) // 2], mine) > 0.9
        else:
            assert has_tone(decoded.audio, HOST_HZ if account == "alice" else COHOST_HZ)
