"""What must not stop a live recording: an RTMP target that refuses or stalls, and a recorder process
that is killed mid-session (its files play up to the crash and are recovered as partial recordings)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.utils import timezone

from recording.jobs.queue import jobs_run_pending
from recording.live.jobs import live_recover
from recording.live.services import RECORDER_ACCOUNT
from recording.models import Member, Recording, Room
from recording.models.live import LiveSession
from tests.support.live.broadcast import (
    BLUE,
    COHOST_HZ,
    HOST_HZ,
    RED,
    REPO,
    end_broadcast,
    files_of,
    free_port,
    room_name,
    start_broadcast,
)
from tests.support.live.media import colour_share, decode, has_tone
from tests.support.shared_db import database_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.timeout(180)]

SESSION_SECONDS = 4.0  # the recording's length


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An RTMP URL whose server accepts the TCP connection and then never answers (a stall)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"rtmp://127.0.0.1:{server.getsockname()[1]}/live/x"
    server.close()
    for connection in accepted:
        connection.close()


@pytest.mark.parametrize("target", ["refused", "stalled"])
async def test_a_failing_rtmp_target_leaves_the_recording_intact(
    live_dirs: Path,
    black_hole: str,
    target: str,
    settings: Any,
) -> None:
    settings.NETCALL_LIVE_RTMP_STALL_SECONDS = 2
    url = f"rtmp://127.0.0.1:{free_port()}/live/x" if target == "refused" else black_hole
    room = room_name()
    host, cohost = await start_broadcast(room, url)
    retrying = await host.wait_for(lambda f: f["type"] == "live.state" and f["state"] == "retrying", 30)
    assert retrying["retryIn"] > 0 and retrying["recording"] is True
    assert retrying["error"] == "rtmp_unreachable"  # never the socket error: that would map ports for a prober
    # retried with backoff, and still failing, while the recording goes on
    again = await host.wait_for(lambda f: f["type"] == "live.state" and f["state"] == "retrying", 30)
    assert again["attempt"] > retrying["attempt"]
    await asyncio.sleep(SESSION_SECONDS)
    session = await end_broadcast(room, host, cohost)
    assert session.push_state in ("retrying", "connecting", "stopped")
    files = await database_sync_to_async(files_of)(session)
    assert len(files) == 5
    length = (session.ended_at - session.started_at).total_seconds()  # type: ignore[operator]
    composite = files[("composite", "")].recording
    assert composite.status == Recording.Status.READY
    decoded = decode(Path(django_settings.MEDIA_ROOT) / composite.file.name)
    assert decoded.video_duration is not None and abs(decoded.video_duration - length) <= 0.1 * length
    image = decoded.video_frames[len(decoded.video_frames) // 2]
    assert colour_share(image, RED) > 0.3 and colour_share(image, BLUE) > 0.03
    assert has_tone(decoded.audio, HOST_HZ) and has_tone(decoded.audio, COHOST_HZ)


def _live_session_for_crash(room_name: str) -> LiveSession:
    room = Room.objects.create(name=room_name)
    now = timezone.now()
    recorder = Member.objects.create(
        room=room,
        account=RECORDER_ACCOUNT,
        session="crashrecorder0000000000a",
        channel_name="netcall-recorder.x",
        role=Member.Role.RECORDER,
        joined_at=now,
        last_seen=now,
    )
    return LiveSession.objects.create(
        room=room,
        channel=room.name,
        host="alice",
        rtmp_url="",
        record=True,
        status=LiveSession.Status.LIVE,
        worker_channel=recorder.channel_name,
        recorder_session=recorder.session,
        heartbeat_at=now,
        started_at=now,
    )


async def test_a_killed_recorder_leaves_files_that_decode(live_dirs: Path, settings: Any) -> None:
    session = await database_sync_to_async(_live_session_for_crash)(room_name())
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "netcall_site.test_settings",
        **database_env(),
        "NETCALL_LIVE_SPOOL_DIR": str(settings.NETCALL_LIVE_SPOOL_DIR),
        "NETCALL_LIVE_WIDTH": "320",
        "NETCALL_LIVE_HEIGHT": "180",
        "NETCALL_JOBS_IN_PROCESS": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.live.crash_recorder", str(session.pk)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    elapsed = 0.0
    while elapsed < 5.0:  # let it record about five seconds, then kill it without warning
        line = await asyncio.to_thread(process.stdout.readline)
        assert line, "the recorder process died on its own"
        elapsed = float(line.split()[1])
    process.send_signal(signal.SIGKILL)
    process.wait()

    # The session's heartbeat stops; the job runner's upkeep notices and finishes what was written.
    await LiveSession.objects.filter(pk=session.pk).aupdate(heartbeat_at=timezone.now() - timedelta(minutes=5))
    await database_sync_to_async(live_recover)()
    await database_sync_to_async(jobs_run_pending)()
    session = await LiveSession.objects.aget(pk=session.pk)
    assert (session.status, session.end_reason) == (LiveSession.Status.ENDED, "recorder_lost")
    files = await database_sync_to_async(files_of)(session)
    assert set(files) == {("composite", ""), ("video", "alice"), ("audio", "alice")}
    for (track, _account), live_file in files.items():
        recording = live_file.recording
        assert recording.status == Recording.Status.PARTIAL, (track, recording.failure_reason)
        decoded = decode(Path(django_settings.MEDIA_ROOT) / recording.file.name)
        duration = decoded.audio_duration if track == "audio" else decoded.video_duration
        # fragments are cut every keyframe (2 s) for video and every second for audio: at most that is lost
        assert duration is not None and elapsed - 2.5 <= duration <= elapsed + 0.5, (track, duration, elapsed)
        if track != "video":
            assert has_tone(decoded.audio, HOST_HZ)
        if track != "audio":
            assert colour_share(decoded.video_frames[-1], RED) > 0.7  # the composite pillarboxes 4:3
