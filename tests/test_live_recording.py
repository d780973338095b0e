"""Live broadcast end to end at the protocol level: aiortc publishers (a colour and a tone each) join a
live channel through the real consumer, the in-process recorder composes, pushes RTMP to a PyAV listener
and records; the files are decoded and the signed callback is checked."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.test import AsyncClient

from recording.live import callbacks
from recording.models import Recording
from recording.models.live import CallbackDelivery, LiveSession
from recording.testing.webhooks import CallbackReceiver
from tests.support.live.broadcast import (
    BLUE,
    COHOST_HZ,
    HOST_HZ,
    RED,
    REPO,
    SESSION_SECONDS,
    end_broadcast,
    files_of,
    room_name,
    start_broadcast,
)
from tests.support.live.media import colour_share, decode, has_tone
from tests.support.shared_db import database_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.timeout(180)]


async def test_host_and_cohost_are_pushed_recorded_and_called_back(
    live_dirs: Path, rtmp_listener: tuple[str, Path, subprocess.Popen[str]], receiver: CallbackReceiver, settings: Any
) -> None:
    settings.NETCALL_CALLBACK_URL = receiver.url
    settings.NETCALL_CALLBACK_SECRET = "callback-secret-for-tests"
    settings.NETCALL_CALLBACK_RETRY_BASE_SECONDS = 0  # retry at once: the test drives the attempts
    rtmp_url, received_flv, listener = rtmp_listener
    room = room_name()
    host, cohost = await start_broadcast(room, rtmp_url)
    pushing = await host.wait_for(lambda f: f["type"] == "live.state" and f["state"] == "pushing", 30)
    assert pushing["recording"] is True
    await asyncio.sleep(SESSION_SECONDS)
    session = await end_broadcast(room, host, cohost)

    # --- the RTMP receiver got H.264 + AAC holding both colours and both tones -----------------------
    summary = json.loads((await asyncio.to_thread(listener.communicate, None, 60))[0])
    assert summary["codecs"] == {"video": "h264", "audio": "aac"}, summary
    pushed = decode(received_flv)
    assert pushed.codecs == {"video": "h264", "audio": "aac"}
    late = pushed.video_frames[len(pushed.video_frames) // 2]
    assert colour_share(late, RED) > 0.3 and colour_share(late, BLUE) > 0.03, "both broadcasters in the picture"
    assert has_tone(pushed.audio, HOST_HZ) and has_tone(pushed.audio, COHOST_HZ)

    # --- the recorded files decode, last as long as the session and hold only their member ------------
    files = await database_sync_to_async(files_of)(session)
    assert set(files) == {
        ("composite", ""),
        ("video", "alice"),
        ("audio", "alice"),
        ("video", "bob"),
        ("audio", "bob"),
    }
    assert session.started_at is not None and session.ended_at is not None
    length = (session.ended_at - session.started_at).total_seconds()
    media = Path(django_settings.MEDIA_ROOT)
    for (track, account), live_file in files.items():
        recording = live_file.recording
        assert recording.status == Recording.Status.READY, (track, account, recording.failure_reason)
        assert recording.kind == Recording.Kind.SERVER
        decoded = decode(media / recording.file.name)
        duration = decoded.video_duration if track == "video" else decoded.audio_duration
        assert duration is not None and abs(duration - length) <= 0.1 * length, (track, account, duration, length)
        print(track, account, f"{duration:.2f} of {length:.2f} s", recording.size, "bytes")
        if track == "composite":
            assert decoded.codecs == {"video": "h264", "audio": "aac"}
            image = decoded.video_frames[len(decoded.video_frames) // 2]
            assert colour_share(image, RED) > 0.3 and colour_share(image, BLUE) > 0.03
            assert has_tone(decoded.audio, HOST_HZ) and has_tone(decoded.audio, COHOST_HZ)
        elif track == "video":
            # as the browser sent it: the negotiated VP8 in WebM, never re-encoded (no x264 of ours inside)
            assert decoded.codecs == {"video": "vp8"} and recording.container == "webm"
            assert b"x264" not in (media / recording.file.name).read_bytes()
            assert live_file.codec == "vp8" and recording.mime_type.startswith("video/webm")
            mine, other = (RED, BLUE) if account == "alice" else (BLUE, RED)
            image = decoded.video_frames[len(decoded.video_frames) // 2]
            assert colour_share(image, mine) > 0.9 and colour_share(image, other) == 0
        else:
            assert decoded.codecs == {"audio": "opus"} and recording.container == "webm"
            mine_hz, other_hz = (HOST_HZ, COHOST_HZ) if account == "alice" else (COHOST_HZ, HOST_HZ)
            assert has_tone(decoded.audio, mine_hz) and not has_tone(decoded.audio, other_hz, threshold=0.05)

    # --- the callback: failing twice, retried across "restarts" (fresh processes), delivered once ---------
    await callback_delivered_once(receiver, session, settings)


def _deliver_in_fresh_process(settings: Any) -> None:
    """One run of the job runner's callback upkeep in a new process: a restarted service."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "netcall_site.test_settings",
        **database_env(),
        "NETCALL_CALLBACK_URL": settings.NETCALL_CALLBACK_URL,
        "NETCALL_CALLBACK_SECRET": settings.NETCALL_CALLBACK_SECRET,
        "NETCALL_CALLBACK_RETRY_BASE_SECONDS": "0",
        "NETCALL_PUBLIC_URL": settings.NETCALL_PUBLIC_URL,
        "NETCALL_JOBS_IN_PROCESS": "0",
    }
    code = "import django; django.setup(); from recording.live.callbacks import callbacks_deliver_due as d; d()"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=60)


async def callback_delivered_once(receiver: CallbackReceiver, session: LiveSession, settings: Any) -> None:
    delivery = await CallbackDelivery.objects.aget(live_session=session)
    assert len(receiver.requests) <= 1  # the first attempt may have happened while finishing
    while len(receiver.requests) < 3:
        await asyncio.to_thread(_deliver_in_fresh_process, settings)
    for _ in range(2):  # acknowledged: later runs, here or in a fresh process, never post it again
        await database_sync_to_async(callbacks.callbacks_deliver_due)()
        await asyncio.to_thread(_deliver_in_fresh_process, settings)
    assert [r.answered for r in receiver.requests] == [503, 503, 200]
    await delivery.arefresh_from_db()
    assert delivery.state == "delivered" and delivery.attempts == 3

    request = receiver.acknowledged[0]
    assert request.headers["X-Netcall-Event-Id"] == str(delivery.event_id)
    assert callbacks.callback_verify(
        settings.NETCALL_CALLBACK_SECRET,
        request.headers["X-Netcall-Timestamp"],
        request.body,
        request.headers["X-Netcall-Signature"],
    )
    assert not callbacks.callback_verify(
        "wrong", request.headers["X-Netcall-Timestamp"], request.body, request.headers["X-Netcall-Signature"]
    )
    payload = json.loads(request.body)
    assert payload["id"] == str(delivery.event_id) and payload["channel"] == session.channel
    assert payload["startedAt"] and payload["endedAt"]
    assert {(f["kind"], f["account"]) for f in payload["files"]} == {
        ("composite", None),
        ("video", "alice"),
        ("audio", "alice"),
        ("video", "bob"),
        ("audio", "bob"),
    }
    client = AsyncClient()
    for entry in payload["files"]:
        assert entry["url"].startswith("http://testserver/")
        response = await client.get(entry["url"].removeprefix("http://testserver"))
        assert response.status_code == 200
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "attachment" in response["Content-Disposition"]
        body = b"".join([chunk async for chunk in response.streaming_content])  # type: ignore[attr-defined]
        assert len(body) == entry["size"]
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert entry["duration"] > 0 and entry["status"] == "ready" and "reason" not in entry
        if entry["kind"] == "composite":
            assert (entry["mimeType"].split(";")[0], entry["videoCodec"], entry["audioCodec"]) == (
                "video/mp4",
                "h264",
                "aac",
            )
        else:
            assert entry["container"] == "webm" and entry["mimeType"].startswith(f"{entry['kind']}/webm")
            assert entry["videoCodec" if entry["kind"] == "video" else "audioCodec"] in ("vp8", "opus")
            assert entry["senderStart"] is not None  # aligned on the sender's clock by its RTCP reports
