"""Issue 14, items 6 and 8 through the public interface: quotas (open uploads, bytes per channel,
transcodes per hour, live sessions per account and per recorder process, a token's default grants) and
the attribution of an upload's `target`."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from recording.live.services import RECORDER_ACCOUNT
from recording.models import Recording, TranscodeRequest, Upload
from recording.models.live import LiveSession
from recording.tokens import token_mint, token_verify
from tests.support.live.broadcast import eventually, free_port, live_dirs  # noqa: F401 (a fixture)
from tests.support.live.client import LiveClient
from tests.support.signalling import Client as SignallingClient
from tests.support.tus_client import TUS, bearer, meta, patch, use_upload_dirs

API_KEY = "quota-api-key"
URL = "rtmp://127.0.0.1:1/live/stream"


@pytest.fixture(autouse=True)
def _dirs(settings: Any, tmp_path: Path) -> None:
    use_upload_dirs(settings, tmp_path)
    settings.NETCALL_API_KEY = API_KEY


def post_upload(client: Client, *, length: int | None, headers: dict[str, str], metadata: str | None = None) -> Any:
    extra = {**TUS, **headers}
    extra.update({"Upload-Defer-Length": "1"} if length is None else {"Upload-Length": str(length)})
    if metadata is not None:
        extra["Upload-Metadata"] = metadata
    return client.post("/api/uploads/", headers=extra)


def refused(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def channel() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


# --- 6. open uploads per account and per channel --------------------------------------------------------


@pytest.mark.django_db
def test_open_uploads_are_bounded_per_account_and_per_channel(client: Client, settings: Any) -> None:
    settings.NETCALL_UPLOAD_MAX_OPEN_PER_ACCOUNT = 2
    settings.NETCALL_UPLOAD_MAX_OPEN_PER_CHANNEL = 3
    alice = bearer("alice", "room1")
    first = post_upload(client, length=10, headers=alice)
    assert post_upload(client, length=10, headers=alice).status_code == 201
    assert refused(post_upload(client, length=10, headers=alice)) == (429, "too_many_uploads")
    # the account's limit holds in every channel
    assert refused(post_upload(client, length=10, headers=bearer("alice", "room2"))) == (429, "too_many_uploads")
    assert post_upload(client, length=10, headers=bearer("bob", "room1")).status_code == 201
    assert refused(post_upload(client, length=10, headers=bearer("carol", "room1"))) == (429, "too_many_uploads")
    assert post_upload(client, length=10, headers=bearer("carol", "room2")).status_code == 201
    # a finished upload is no longer open: alice may start another
    assert patch(client, first["Location"], 0, b"0123456789", headers=alice).status_code == 204
    assert post_upload(client, length=10, headers=bearer("alice", "room2")).status_code == 201
    assert Upload.objects.filter(state=Upload.State.OPEN, account="alice").count() == 2


# --- 6. bytes stored per channel -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_channel_holds_at_most_its_quota_of_bytes(client: Client, settings: Any) -> None:
    settings.NETCALL_CHANNEL_MAX_BYTES = 1000
    Recording.objects.create(channel="room1", account="bob", recorder="bob", kind="participant", size=300)
    alice = bearer("alice", "room1")
    assert post_upload(client, length=400, headers=alice).status_code == 201  # 700 of 1000: declared counts
    assert refused(post_upload(client, length=301, headers=alice)) == (413, "channel_quota")
    deferred = post_upload(client, length=None, headers=alice)
    assert deferred.status_code == 201
    assert patch(client, deferred["Location"], 0, b"x" * 200, headers=alice).status_code == 204
    # past the channel's quota: refused, nothing of the body kept
    over = patch(client, deferred["Location"], 200, b"x" * 101, headers=alice)
    assert refused(over) == (413, "channel_quota")
    head = client.head(deferred["Location"], headers={**TUS, **alice})
    assert head["Upload-Offset"] == "200"
    assert patch(client, deferred["Location"], 200, b"x" * 100, headers=alice).status_code == 204
    assert refused(post_upload(client, length=None, headers=alice)) == (413, "channel_quota")  # full
    assert post_upload(client, length=1000, headers=bearer("alice", "room2")).status_code == 201  # per channel


# --- 6. transcodes per account per hour ---------------------------------------------------------------


@pytest.mark.django_db
def test_transcodes_are_counted_per_recorder_account_per_hour(client: Client, settings: Any) -> None:
    settings.NETCALL_TRANSCODE_PER_HOUR = 2
    alice = bearer("alice", "room1")
    transcode = meta(filetype="video/webm", transcode="1")
    assert post_upload(client, length=10, headers=alice, metadata=transcode).status_code == 201
    assert post_upload(client, length=10, headers=alice, metadata=transcode).status_code == 201
    assert refused(post_upload(client, length=10, headers=alice, metadata=transcode)) == (429, "transcode_quota")
    assert post_upload(client, length=10, headers=alice, metadata=meta(filetype="video/webm")).status_code == 201
    # the API's transcode requests count against the recording's recorder: alice has used hers
    api = {"Authorization": f"Bearer {API_KEY}"}
    alices = Recording.objects.create(channel="room1", account="bob", recorder="alice", kind="participant")
    answer = client.post(f"/api/recordings/{alices.pk}/transcode", headers=api)
    assert refused(answer) == (429, "transcode_quota")
    bobs = [Recording.objects.create(channel="room1", account="bob", recorder="bob", kind="participant") for _ in "abc"]
    assert [client.post(f"/api/recordings/{r.pk}/transcode", headers=api).status_code for r in bobs] == [202, 202, 429]
    # an hour later alice may ask again
    TranscodeRequest.objects.filter(account="alice").update(requested_at=timezone.now() - timedelta(minutes=61))
    assert client.post(f"/api/recordings/{alices.pk}/transcode", headers=api).status_code == 202
    assert Recording.objects.filter(pk=alices.pk, transcode_requested=True).exists()


# --- 6. a token grants `publish` unless more is asked for -----------------------------------------------


@pytest.mark.django_db
def test_tokens_grant_publish_unless_asked_for_more(client: Client, settings: Any) -> None:
    assert token_verify(token_mint(account="alice", channel="room1")).grants == frozenset({"publish"})
    minted = client.post(
        "/api/tokens",
        json.dumps({"account": "alice", "channel": "room1"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert minted.status_code == 201 and minted.json()["grants"] == ["publish"]
    plain = {"Authorization": "Bearer " + minted.json()["token"]}
    assert refused(post_upload(client, length=10, headers=plain)) == (403, "forbidden")
    asked = client.post(
        "/api/tokens",
        json.dumps({"account": "alice", "channel": "room1", "grants": ["publish", "upload"]}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    uploader = {"Authorization": "Bearer " + asked.json()["token"]}
    assert post_upload(client, length=10, headers=uploader).status_code == 201
    # the demo room page asks for what the demo uses
    settings.NETCALL_GUEST_MODE = True
    page = client.get("/room/room1/?account=alice")
    assert token_verify(page.context["config"]["token"]).grants == {"publish", "record", "upload", "live"}


# --- 6. live sessions per account -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_account_hosts_one_live_session_at_a_time(settings: Any) -> None:
    settings.NETCALL_RECORDER_IN_PROCESS = False  # sessions stay `starting`: no media in this test
    settings.NETCALL_LIVE_MAX_SESSIONS_PER_ACCOUNT = 1
    first, second = channel(), channel()
    host = await LiveClient.connect("alice")
    again = await LiveClient.connect("alice")
    try:
        assert (await host.join(first, {"liveEnable": True, "rtmpUrl": URL}))["type"] == "ack"
        reply = await again.join(second, {"liveEnable": True, "rtmpUrl": URL})
        assert (reply["type"], reply.get("code")) == ("error", "live_quota"), reply
        assert not await LiveSession.objects.filter(channel=second).aexists()
        # a co-host's join starts nothing and is not counted
        assert (await again.join(second, {"liveEnable": True}))["data"]["self"]["role"] == "cohost"
        assert (await again.request("leave"))["type"] == "ack"
        # the host re-joining its own session is no second session
        rejoin = await again.join(first, {"liveEnable": True, "rtmpUrl": URL})
        assert rejoin["type"] == "ack" and rejoin["data"]["self"]["role"] == "host", rejoin
        assert await LiveSession.objects.filter(host="alice").acount() == 1
    finally:
        await host.close()
        await again.close()


# --- 6. live sessions per recorder process ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_full_recorder_process_ends_a_new_session_with_a_reason(settings: Any, live_dirs: Path) -> None:  # noqa: F811
    settings.NETCALL_RECORDER_IN_PROCESS = True
    settings.NETCALL_LIVE_MAX_SESSIONS_PER_PROCESS = 1
    busy, refused_room = channel(), channel()
    unreachable = f"rtmp://127.0.0.1:{free_port()}/live/x"
    alice = await LiveClient.connect("alice")
    bob = await LiveClient.connect("bob")
    try:
        assert (await alice.join(busy, {"liveEnable": True, "rtmpUrl": unreachable}))["type"] == "ack"

        async def claimed() -> bool:  # alice's session is this process's one running session
            return await LiveSession.objects.filter(channel=busy, status=LiveSession.Status.LIVE).aexists()

        await eventually(claimed, timeout=30, what="the recorder to take alice's session")
        assert (await bob.join(refused_room, {"liveEnable": True, "rtmpUrl": unreachable}))["type"] == "ack"
        ended = await bob.wait_for(lambda f: f["type"] == "live.state" and f["state"] == "ended", 30)
        assert ended["reason"] == "live_quota"
        session = await LiveSession.objects.aget(channel=refused_room)
        assert (session.status, session.end_reason) == (LiveSession.Status.FINISHING, "live_quota")
        assert not any(f.get("state") == "ended" for f in alice.backlog if f.get("type") == "live.state")
    finally:
        await bob.close()
        assert (await alice.request("leave"))["type"] == "ack"
        await alice.close()
    busy_session = await LiveSession.objects.aget(channel=busy)
    assert busy_session.end_reason in ("", "host_left")


# --- 8. an upload's target ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_uploads_target_must_be_the_uploader_or_an_announced_recording() -> None:
    from asgiref.sync import sync_to_async

    room = channel()
    alice, bob = await SignallingClient.connect(), await SignallingClient.connect()
    try:
        await alice.join("alice", room)
        await bob.join("bob", room)
        client = Client()
        headers = bearer("alice", room)

        def create(target: str) -> Any:
            return post_upload(client, length=10, headers=headers, metadata=meta(kind="participant", target=target))

        upload = sync_to_async(create)
        assert (await upload("alice")).status_code == 201  # her own media
        assert refused(await upload("bob")) == (403, "bad_target")  # never announced
        assert refused(await upload(RECORDER_ACCOUNT)) == (403, "bad_target")
        started = await alice.request("record.start", target="bob", kind="mp4")
        assert started["type"] == "ack", started
        assert (await alice.request("record.stop", target="bob", kind="mp4"))["type"] == "ack"
        # announced, then stopped: an upload made afterwards (a recovered tab) is still attributed
        created = await upload("bob")
        assert created.status_code == 201
        recording = await Recording.objects.aget(upload__pk=created["Location"].rstrip("/").rsplit("/", 1)[-1])
        assert (recording.account, recording.recorder) == ("bob", "alice")
        # bob's announcement does not let carol, or anyone else, name bob
        assert refused(
            await sync_to_async(post_upload)(
                client, length=10, headers=bearer("carol", room), metadata=meta(target="bob")
            )
        ) == (403, "bad_target")
        assert refused(
            await sync_to_async(post_upload)(
                client, length=10, headers=bearer("alice", "elsewhere"), metadata=meta(target="bob")
            )
        ) == (403, "bad_target")
    finally:
        await alice.close()
        await bob.close()
