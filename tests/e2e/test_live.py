"""Live broadcast with real Chromium publishers: a host and a co-host join with the SDK's liveEnable /
sessionConfig; the server recorder (aiortc, in the Daphne process) pushes to an RTMP listener and
records; the signed callback arrives once although the receiver fails first and the service restarts."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from recording.live.callbacks import callback_verify
from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE, BOB, Participant
from recording.testing.server import DaphneServer
from recording.testing.webhooks import CallbackReceiver
from tests.support.live.broadcast import EXPECTED_FILES, rtmp_listening
from tests.support.live.media import colour_share, decode, has_tone

pytestmark = [pytest.mark.e2e, pytest.mark.engine]

OpenParticipant = Callable[..., ParticipantPage]
REPO = Path(__file__).resolve().parents[2]
SECRET = "e2e-callback-secret"
SESSION_SECONDS = 6.0  # how long the broadcast lasts: the recording's length, not a synchronisation wait
TOLERANCE = 70  # per channel: the colour went through VP8, our H.264 and the decoder


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver(fail_first=1).start()
    yield server
    server.stop()


@pytest.fixture
def broadcast_server(
    daphne_server: Callable[..., DaphneServer], receiver: CallbackReceiver, tmp_path: Path
) -> DaphneServer:
    return daphne_server(
        NETCALL_CALLBACK_URL=receiver.url,
        NETCALL_CALLBACK_SECRET=SECRET,
        NETCALL_CALLBACK_RETRY_BASE_SECONDS="1",
        NETCALL_LIVE_SPOOL_DIR=str(tmp_path / "spool"),
        NETCALL_MEDIA_ROOT=str(tmp_path / "media"),
        NETCALL_LIVE_WIDTH="320",
        NETCALL_LIVE_HEIGHT="180",
        NETCALL_LIVE_STALE_SECONDS="4",
        NETCALL_LIVE_HEARTBEAT_SECONDS="1",
    )


@pytest.fixture
def rtmp_listener(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    with rtmp_listening(tmp_path, seconds=120) as listener:
        yield listener


def live_join(page: ParticipantPage, server: DaphneServer, channel: str, live: dict[str, Any]) -> dict[str, Any]:
    """Join with the SDK from a plain page of the server, the way an application would."""
    grants = ["publish", "live", "record"] if live.get("sessionConfig", {}).get("rtmpUrl") else ["publish"]
    token = server.mint_token(page.account, channel, grants=grants)
    page.page.goto(server.url + "/")
    return dict(
        page.page.evaluate(
            """async ({account, token, channel, live}) => {
                const { Netcall } = await import('/static/netcall/netcall.js');
                const nc = new Netcall({ account, token });
                window.__live = [];
                nc.on('liveState', (s) => window.__live.push(s));
                window.netcall = nc;
                const type = Netcall.NETCALL_TYPE_VIDEO;
                window.netcallReady = nc.joinChannel({ channelName: channel, type, ...live });
                const joined = await window.netcallReady;
                return { members: joined.members, live: joined.live };
            }""",
            {"account": page.account, "token": token, "channel": channel, "live": live},
        )
    )


def wait_live_state(page: ParticipantPage, state: str, timeout_ms: float = 45_000) -> dict[str, Any]:
    page.page.wait_for_function(
        "(s) => (window.__live || []).some((e) => e.state === s)", arg=state, timeout=timeout_ms
    )
    return dict(page.page.evaluate("(s) => window.__live.find((e) => e.state === s)", state))


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)  # polling interval


def fetch(server: DaphneServer, url: str, target: Path) -> bytes:
    path = url[url.index("/recordings/") :]  # the links name NETCALL_PUBLIC_URL; fetch from this server
    with urllib.request.urlopen(server.url + path, timeout=30) as response:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        body = response.read()
    target.write_bytes(body)
    return body


def holds(image: Any, person: Participant, share: float) -> bool:
    return colour_share(image, person.rgb, tolerance=TOLERANCE) > share


def test_host_and_cohost_broadcast_recorded_and_called_back(
    open_participant: OpenParticipant,
    broadcast_server: DaphneServer,
    receiver: CallbackReceiver,
    rtmp_listener: tuple[str, Path, subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    rtmp_url, received_flv, listener = rtmp_listener
    channel = f"live-{uuid.uuid4().hex[:8]}"
    host, cohost = open_participant(ALICE, broadcast_server), open_participant(BOB, broadcast_server)
    joined = live_join(
        host,
        broadcast_server,
        channel,
        {"liveEnable": True, "sessionConfig": {"rtmpUrl": rtmp_url, "rtmpRecord": True}},
    )
    assert joined["members"] == [] and joined["live"]["role"] == "host"  # #recorder is not a member for the page
    joined = live_join(cohost, broadcast_server, channel, {"liveEnable": True})
    assert joined["members"] == ["alice"] and joined["live"]["role"] == "cohost"
    assert wait_live_state(host, "pushing")["recording"] is True
    time.sleep(SESSION_SECONDS)
    host.page.evaluate("() => window.netcall.leaveChannel()")

    # The RTMP receiver got H.264 + AAC with both people in the picture and both voices.
    out, _ = listener.communicate(timeout=60)
    assert json.loads(out)["codecs"] == {"video": "h264", "audio": "aac"}
    pushed = decode(received_flv)
    late = pushed.video_frames[-2]
    assert holds(late, ALICE, 0.3) and holds(late, BOB, 0.03), "both broadcasters in the pushed picture"
    assert has_tone(pushed.audio, ALICE.tone_hz) and has_tone(pushed.audio, BOB.tone_hz)

    # The callback: the receiver refuses the first attempt, the service is killed and restarted, and it
    # still arrives — once.
    wait_until(lambda: len(receiver.requests) >= 1, timeout=90, what="the first callback attempt")
    cohost.allow_console_error(r"WebSocket connection to .* failed")  # bob is still connected: the restart
    broadcast_server.restart()
    wait_until(lambda: len(receiver.acknowledged) == 1, timeout=60, what="the callback to be acknowledged")
    time.sleep(3)  # an observation window: the job runner polls every second; nothing more may arrive
    assert [r.answered for r in receiver.requests] == [503, 200]
    request = receiver.acknowledged[0]
    headers = request.headers
    assert callback_verify(SECRET, headers["X-Netcall-Timestamp"], request.body, headers["X-Netcall-Signature"])
    event = json.loads(request.body)
    assert event["id"] == headers["X-Netcall-Event-Id"] and event["channel"] == channel
    assert event["host"] == "alice" and event["endReason"] == "host_left"

    ended = datetime.fromisoformat(event["endedAt"])
    files = {(f["kind"], f["account"]): f for f in event["files"]}
    assert set(files) == EXPECTED_FILES
    for (kind, account), entry in files.items():
        target = tmp_path / f"{kind}-{account}.mp4"
        body = fetch(broadcast_server, entry["url"], target)
        assert len(body) == entry["size"]
        decoded = decode(target)
        duration = decoded.audio_duration if kind == "audio" else decoded.video_duration
        # a file lasts from its first media (bob joined later than alice) to the end of the session
        length = (ended - datetime.fromisoformat(entry["startedAt"])).total_seconds()
        assert duration is not None and abs(duration - length) <= 0.1 * length, (kind, account, duration, length)
        if kind == "composite":
            image = decoded.video_frames[-2]
            assert holds(image, ALICE, 0.3) and holds(image, BOB, 0.03)
            assert has_tone(decoded.audio, ALICE.tone_hz) and has_tone(decoded.audio, BOB.tone_hz)
        elif kind == "video":
            me, other = (ALICE, BOB) if account == "alice" else (BOB, ALICE)
            image = decoded.video_frames[len(decoded.video_frames) // 2]
            assert holds(image, me, 0.8) and not holds(image, other, 0.01), (account, "only their own picture")
        else:
            me, other = (ALICE, BOB) if account == "alice" else (BOB, ALICE)
            assert has_tone(decoded.audio, me.tone_hz) and not has_tone(decoded.audio, other.tone_hz, threshold=0.05)


def test_demo_lobby_starts_a_broadcast_and_shows_its_state(
    open_participant: OpenParticipant,
    broadcast_server: DaphneServer,
    rtmp_listener: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    """A person uses the demo: picks "Host" in the lobby with an RTMP address; the room page says when
    the broadcast is on air, and the RTMP server receives it."""
    from playwright.sync_api import expect

    url, _, listener = rtmp_listener
    host = open_participant(ALICE, broadcast_server)
    page = host.page
    page.goto(broadcast_server.url + "/")
    page.get_by_label("Your name").fill(ALICE.account)
    page.get_by_label("Channel").fill(f"demo-live-{uuid.uuid4().hex[:8]}")
    page.get_by_label("Host: push the call to an RTMP server").check()
    page.get_by_label("RTMP push address (host)").fill(url)
    page.get_by_role("button", name="Join").click()
    host.wait_ready()
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "pushing", timeout=60_000)
    expect(status).to_contain_text("on air")

    host.leave_with_button()
    out, _ = listener.communicate(timeout=60)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["codecs"] == {"video": "h264", "audio": "aac"}, summary
    assert summary["packets"].get("video", 0) > 0 and summary["packets"].get("audio", 0) > 0, summary
