"""The host pauses the server recording, not the push (issue 16, point 1: `pauseLiveRecord()` /
`resumeLiveRecord()`): real aiortc broadcasters, the real recorder participant, a real RTMP receiver.

The recorded files are the paused span shorter than the session and have no gap (the broadcasters'
tones are there all through them); the push is as long as the session; every member is told
(`record.state` of `#recorder`, kind `live`); the session keeps the paused interval and the callback
lists it; only the host may pause."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from recording.live import callbacks
from recording.live.services import RECORDER_ACCOUNT
from tests.support.live.broadcast import (  # noqa: F401
    COHOST_HZ,
    HOST_HZ,
    end_broadcast,
    files_of,
    live_dirs,
    room_name,
    rtmp_listener,
    start_broadcast,
)
from tests.support.live.media import decode, has_tone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.timeout(180)]

SPAN_SECONDS = 3.0  # recorded before and after the pause: the recording's length, not a synchronisation wait
PAUSE_SECONDS = 3.0


def _is_live_state(state: str) -> Any:
    return lambda f: f["type"] == "record.state" and f["state"] == state and f["record"]["kind"] == "live"


async def test_host_pauses_the_server_recording_not_the_push(
    live_dirs: Path,  # noqa: F811
    rtmp_listener: tuple[str, Path, subprocess.Popen[str]],  # noqa: F811
) -> None:
    rtmp_url, received_flv, listener = rtmp_listener
    room = room_name()
    host, cohost = await start_broadcast(room, rtmp_url)
    await host.wait_for(lambda f: f["type"] == "live.state" and f["state"] == "pushing", 30)
    await asyncio.sleep(SPAN_SECONDS)
    assert (await cohost.request("live.pause"))["code"] == "live_not_recording"  # only the host
    assert (await host.request("live.pause"))["type"] == "ack"
    for member in (host, cohost):
        paused = await member.wait_for(_is_live_state("paused"), 10)
        assert paused["record"]["recorder"] == RECORDER_ACCOUNT and paused["record"]["paused"] is True
    await asyncio.sleep(PAUSE_SECONDS)
    assert (await host.request("live.resume"))["type"] == "ack"
    resumed = await cohost.wait_for(_is_live_state("resumed"), 10)
    assert [i["end"] is not None for i in resumed["record"]["pausedIntervals"]] == [True]
    await asyncio.sleep(SPAN_SECONDS)
    session = await end_broadcast(room, host, cohost)

    assert session.started_at is not None and session.ended_at is not None
    length = (session.ended_at - session.started_at).total_seconds()
    [interval] = session.record_paused
    paused_s = (datetime.fromisoformat(interval["end"]) - datetime.fromisoformat(interval["start"])).total_seconds()
    assert abs(paused_s - PAUSE_SECONDS) < 1.0, interval
    payload = await database_sync_to_async(callbacks.live_payload)(session, event_id="e")
    assert payload["pausedIntervals"] == [interval]

    # The push went on: as long as the session.
    await asyncio.to_thread(listener.communicate, None, 60)
    pushed = decode(received_flv)
    assert pushed.video_duration is not None and pushed.video_duration >= length - 2.0, (pushed.video_duration, length)

    # The recordings: the pause shorter, no hole (the tone all through), the member in them.
    media = Path(django_settings.MEDIA_ROOT)
    for (track, account), live_file in (await database_sync_to_async(files_of)(session)).items():
        decoded = decode(media / live_file.recording.file.name)
        duration = decoded.video_duration if track == "video" else decoded.audio_duration
        print(track, account, f"{duration} s of a {length:.2f} s session paused {paused_s:.2f} s")
        assert duration is not None and abs(duration - (length - paused_s)) <= 1.0, (track, account, duration)
        if track == "video":
            continue
        tone = {"": HOST_HZ, "alice": HOST_HZ, "bob": COHOST_HZ}[account]
        samples = decoded.audio
        window = 48_000 // 2
        quiet = [
            i / 2
            for i in range(2, len(samples) // window - 1)
            if not has_tone(samples[i * window : (i + 1) * window], tone)
        ]
        assert not quiet, f"{track} {account}: no {tone} Hz at {quiet} s"
        assert float(np.abs(samples).max()) > 0.05
