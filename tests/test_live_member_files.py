"""Per-member server files as the browser sent them, and every expected file or its reason.

aiortc publishers join a recorded live channel through the real consumer: the host sends H.264 (the only
video codec it offers), a co-host sends VP8 and then stops sending without leaving (its tab crashed: the
member lingers until presence expires), a second co-host joins and never connects to the recorder."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from recording.live import callbacks
from recording.live.services import RECORDER_ACCOUNT
from recording.models.live import LiveSession
from tests.support.live.broadcast import (
    BLUE,
    COHOST_HZ,
    HOST_HZ,
    RED,
    eventually,
    free_port,
    room_name,
)
from tests.support.live.client import LiveClient
from tests.support.live.media import colour_share, decode, has_tone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.timeout(180)]


async def test_member_files_are_as_sent_and_every_missing_one_has_a_reason(live_dirs: Path, settings: Any) -> None:
    settings.NETCALL_LIVE_MEDIA_TIMEOUT_SECONDS = 1
    room = room_name()
    host, bob, carol = [await LiveClient.connect(name) for name in ("alice", "bob", "carol")]
    rtmp = f"rtmp://127.0.0.1:{free_port()}/live/x"  # nobody listens: the push retries, recording goes on
    assert (await host.join(room, {"liveEnable": True, "rtmpUrl": rtmp, "rtmpRecord": True}))["type"] == "ack"
    assert (await bob.join(room, {"liveEnable": True}))["type"] == "ack"
    assert (await carol.join(room, {"liveEnable": True}))["type"] == "ack"  # never publishes
    await asyncio.gather(
        host.publish_to_recorder(rgb=RED, hz=HOST_HZ, video_codec="video/H264"),
        bob.publish_to_recorder(rgb=BLUE, hz=COHOST_HZ),
    )
    spool = Path(settings.NETCALL_LIVE_SPOOL_DIR)

    async def both_writing() -> bool:
        return len([p for p in spool.rglob("*") if p.is_file() and p.stat().st_size > 2000]) >= 5

    await eventually(both_writing, timeout=30, what="the composite and four member files to be written")
    await asyncio.sleep(2)  # bob's files hold a little media
    assert bob.pc is not None
    await bob.pc.close()  # bob's media stops; his member stays in the room
    bob.pc = None
    await asyncio.sleep(2.5)  # the session goes on without his media for longer than the timeout
    assert (await host.request("leave"))["type"] == "ack"
    await bob.wait_for(lambda f: f["type"] == "member.left" and f["account"] == RECORDER_ACCOUNT, 60)

    async def finished() -> bool:
        from recording.jobs.queue import jobs_run_pending

        await database_sync_to_async(jobs_run_pending)()
        return await LiveSession.objects.filter(channel=room, status=LiveSession.Status.ENDED).aexists()

    await eventually(finished, timeout=60, what="the session's files to be finished")
    for client in (host, bob, carol):
        await client.close()
    session = await LiveSession.objects.aget(channel=room)
    payload = await database_sync_to_async(callbacks.live_payload)(session, event_id="test")
    entries = {(f["kind"], f["account"]): f for f in payload["files"]}
    assert set(entries) == {
        ("composite", None),
        *((kind, account) for kind in ("video", "audio") for account in ("alice", "bob", "carol")),
    }, payload["files"]

    # the host's video: the H.264 it negotiated, in Matroska, its own colour; its audio: Opus in WebM
    alice_video = entries[("video", "alice")]
    assert (alice_video["status"], alice_video["container"], alice_video["videoCodec"]) == ("ready", "mkv", "h264")
    assert alice_video["mimeType"].startswith("video/x-matroska")
    media = Path(django_settings.MEDIA_ROOT)
    recordings = {r.pk: r for r in [f.recording async for f in session.files.select_related("recording")] if r}
    decoded = decode(media / recordings[uuid.UUID(alice_video["id"])].file.name)
    assert decoded.codecs == {"video": "h264"} and decoded.video_duration and decoded.video_duration > 2
    assert colour_share(decoded.video_frames[len(decoded.video_frames) // 2], RED) > 0.9
    alice_audio = entries[("audio", "alice")]
    assert (alice_audio["status"], alice_audio["audioCodec"], alice_audio["container"]) == ("ready", "opus", "webm")

    # bob's files are kept up to where his media stopped, and say so
    for kind in ("video", "audio"):
        entry = entries[(kind, "bob")]
        assert entry["status"] == "ready" and entry["reason"] == "media_stopped", entry
        assert entry["duration"] > 1
    decoded = decode(media / recordings[uuid.UUID(entries[("audio", "bob")]["id"])].file.name)
    assert has_tone(decoded.audio, COHOST_HZ)

    # carol never connected: an entry each, with the reason and nothing to download
    for kind in ("video", "audio"):
        entry = entries[(kind, "carol")]
        assert entry["status"] == "missing" and entry["reason"] == "never_joined_recorder", entry
        assert "url" not in entry
