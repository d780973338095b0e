"""A live broadcast at the protocol level, for the live tests: aiortc publishers (a colour and a tone each)
join a live channel through the real consumer; fixtures for the spool, an RTMP listener and a callback
receiver."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async

from recording.jobs.queue import jobs_run_pending
from recording.live.services import RECORDER_ACCOUNT
from recording.models.live import LiveFile, LiveSession
from recording.testing.webhooks import CallbackReceiver
from tests.support.live.client import LiveClient

REPO = Path(__file__).resolve().parents[3]
SESSION_SECONDS = 6.0  # how long the broadcast lasts: the recording's length, not a synchronisation wait
RED, BLUE = (220, 40, 40), (40, 40, 220)
HOST_HZ, COHOST_HZ = 440, 660


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_dirs(settings: Any, tmp_path: Path) -> Path:
    settings.NETCALL_LIVE_SPOOL_DIR = tmp_path / "spool"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.NETCALL_LIVE_WIDTH, settings.NETCALL_LIVE_HEIGHT = 320, 180
    settings.NETCALL_LIVE_RTMP_RETRY_MAX_SECONDS = 2
    settings.NETCALL_LIVE_RTMP_STALL_SECONDS = 5
    settings.NETCALL_PUBLIC_URL = "http://testserver"
    return tmp_path


LISTENER_SCRIPT = REPO / "tests" / "support" / "live" / "rtmp_listener.py"
# What a callback lists after a recorded broadcast of host alice and co-host bob: (kind, account).
EXPECTED_FILES = {("composite", None), ("video", "alice"), ("audio", "alice"), ("video", "bob"), ("audio", "bob")}


@contextlib.contextmanager
def rtmp_listening(directory: Path, *, seconds: int) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """A one-shot RTMP listener (PyAV) on a free port: (URL to push to, file it writes, its process)."""
    port, out = free_port(), directory / "received.flv"
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "support" / "live" / "rtmp_listener.py"),
            str(port),
            str(out),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"rtmp://127.0.0.1:{port}/live/test", out, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def rtmp_listener(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    with rtmp_listening(tmp_path, seconds=90) as listener:
        yield listener


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver(fail_first=2).start()
    yield server
    server.stop()


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)  # polling interval


def room_name() -> str:
    return f"live-{uuid.uuid4().hex[:8]}"


async def start_broadcast(room: str, rtmp_url: str, *, record: bool = True) -> tuple[LiveClient, LiveClient]:
    host = await LiveClient.connect("alice")
    reply = await host.join(room, {"liveEnable": True, "rtmpUrl": rtmp_url, "rtmpRecord": record})
    assert reply["type"] == "ack", reply
    cohost = await LiveClient.connect("bob")
    reply = await cohost.join(room, {"liveEnable": True})
    assert reply["type"] == "ack", reply
    assert RECORDER_ACCOUNT in [m["account"] for m in reply["data"]["members"]]
    await asyncio.gather(
        host.publish_to_recorder(rgb=RED, hz=HOST_HZ), cohost.publish_to_recorder(rgb=BLUE, hz=COHOST_HZ)
    )
    return host, cohost


async def end_broadcast(room: str, host: LiveClient, cohost: LiveClient) -> LiveSession:
    assert (await host.request("leave"))["type"] == "ack"
    left = await cohost.wait_for(lambda f: f["type"] == "member.left" and f["account"] == RECORDER_ACCOUNT, 60)
    assert left["reason"] == "left"

    async def finished() -> bool:
        await database_sync_to_async(jobs_run_pending)()
        return await LiveSession.objects.filter(channel=room, status=LiveSession.Status.ENDED).aexists()

    await eventually(finished, timeout=60, what="the session's files to be finished")
    await host.close()
    await cohost.close()
    return await LiveSession.objects.aget(channel=room)


def files_of(session: LiveSession) -> dict[tuple[str, str], LiveFile]:
    return {(f.track, f.account): f for f in session.files.select_related("recording")}
