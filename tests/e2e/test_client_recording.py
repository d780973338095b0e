"""Client recording in real browsers (startRecordMp4 / stopRecordMp4 / startRecordAac / stopRecordAac).

Every file is fetched from the page and decoded with PyAV: header duration, decoded duration,
codecs, and content (each participant's fake microphone plays its own tone and its fake camera
shows its own colour, see media.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Playwright, expect

from recording.testing import media
from recording.testing import recorder as rec
from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE, BOB, CAROL, MediaFiles, media_files_for
from recording.testing.server import DaphneServer
from tests.support import memory
from tests.support.recording_checks import (
    EVENTS_JS,
    TONES,
    OpenParticipant,
    assert_colour,
    assert_durations,
    assert_tones,
    join_call,
    recorded_seconds,
    unique_channel,
    wait_record_event,
)

pytestmark = pytest.mark.e2e

# --- tests --------------------------------------------------------------------------------------


def test_record_a_member_and_the_mix(open_participant: OpenParticipant, tmp_path: Path) -> None:
    """A records B (positional form, default 'download' sink) and the mix of A and B."""
    alice, bob = join_call(open_participant, [ALICE, BOB], unique_channel("rec"))
    alice.expect_media_from(BOB)

    started = rec.start(alice, "startRecordMp4", "bob")
    assert started["account"] == "bob"
    assert started["kind"] == "mp4"
    assert started["mimeType"].startswith("video/mp4"), started
    assert started["fileName"].startswith("bob-") and started["fileName"].endswith(".mp4"), started
    mix = rec.start(alice, "startRecordAac", {"save": "none"})
    assert mix["kind"] == "aac"
    # Everyone in the room hears who records whom.
    notice = wait_record_event(bob, "recordStateChange", target="bob", state="started")
    assert notice["recorder"] == "alice" and notice["kind"] == "mp4" and notice["local"] is False
    wait_record_event(bob, "recordStateChange", kind="aac", state="started")
    wait_record_event(alice, "recordStateChange", target="bob", state="started", local=True)

    rec.wait_page_ms(alice, started["startedAt"], 6000)
    with alice.page.expect_download() as download_info:
        member = rec.stop(alice, "stopRecordMp4", "bob", directory=tmp_path, name="bob")
    download = download_info.value
    assert download.suggested_filename == member.meta["fileName"] == started["fileName"]
    assert member.meta["saved"] == "download"
    mixed = rec.stop(alice, "stopRecordAac", directory=tmp_path, name="mix")
    assert mixed.meta["saved"] == "none"
    wait_record_event(bob, "recordStateChange", target="bob", state="stopped")

    # B's file: B's tone and colour, not A's.
    assert_durations(member)
    decoded = media.decode(member.path)
    assert decoded.codecs.get("audio") == "opus", decoded.codecs
    assert decoded.codecs.get("video") in ("h264", "vp9"), decoded.codecs
    assert_colour(decoded, BOB)
    assert_tones(decoded, {BOB.tone_hz}, "bob's file")

    # The mix: both voices, audio only, in MP4 (Opus: this Chromium has no AAC encoder).
    assert mixed.meta["mimeType"].startswith("audio/mp4"), mixed.meta
    assert mixed.meta["fileName"].endswith(".m4a"), mixed.meta
    assert_durations(mixed)
    decoded_mix = media.decode(mixed.path)
    assert set(decoded_mix.codecs) == {"audio"}, decoded_mix.codecs
    assert_tones(decoded_mix, {ALICE.tone_hz, BOB.tone_hz}, "the mix")


PLAY_JS = """
async (name) => {
  // Chrome itself: the file's duration is known before playing, and a seek to the middle lands there.
  const blob = window.__rec.results[name].blob;
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'metadata';
  video.src = URL.createObjectURL(blob);
  try {
    await new Promise((resolve, reject) => {
      video.onloadedmetadata = resolve;
      video.onerror = () => reject(new Error('cannot load: ' + (video.error && video.error.message)));
    });
    const duration = video.duration;
    const target = Number.isFinite(duration) ? duration / 2 : 1;
    await new Promise((resolve) => { video.onseeked = resolve; video.currentTime = target; });
    const ranges = video.seekable;
    return { duration: Number.isFinite(duration) ? duration : null, target, position: video.currentTime,
             seekableEnd: ranges.length ? ranges.end(ranges.length - 1) : 0 };
  } finally {
    const url = video.src;
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(url);
  }
}
"""


def assert_seekable_in_chrome(page: ParticipantPage, name: str, expected: float) -> None:
    played = page.page.evaluate(PLAY_JS, name)
    assert played["duration"] is not None, f"Chrome sees no duration: {played}"
    assert media.within(played["duration"], expected), played
    assert abs(played["position"] - played["target"]) < 1.0, played
    assert media.within(played["seekableEnd"], expected), played


def test_object_form_path_yourself_and_webm(open_participant: OpenParticipant, tmp_path: Path) -> None:
    """The object form: a Windows-style path names the file; no account records yourself; WebM on request."""
    alice, _ = join_call(open_participant, [ALICE, BOB], unique_channel("path"))
    alice.expect_media_from(BOB)

    me = rec.start(alice, "startRecordMp4", {"account": "", "path": "E:/test.mp4", "save": "none"})
    assert me["account"] == "alice" and me["fileName"] == "test.mp4", me
    webm = rec.start(
        alice, "startRecordMp4", {"account": "bob", "path": "C:\\records\\bob.mp4", "format": "webm", "save": "none"}
    )
    assert webm["fileName"] == "bob.webm", webm
    assert webm["mimeType"].startswith("video/webm"), webm
    mix = rec.start(alice, "startRecordAac", {"path": "D:\\calls\\all.aac", "save": "none"})
    assert mix["fileName"] == "all.m4a", mix

    rec.wait_page_ms(alice, me["startedAt"], 6000)
    mine = rec.stop(alice, "stopRecordMp4", {"account": "alice"}, directory=tmp_path, name="me")
    theirs = rec.stop(alice, "stopRecordMp4", {"account": "bob"}, directory=tmp_path, name="bob")
    mixed = rec.stop(alice, "stopRecordAac", directory=tmp_path, name="mix")
    assert mine.meta["fileName"] == "test.mp4" and theirs.meta["fileName"] == "bob.webm"

    for file, owner in ((mine, ALICE), (theirs, BOB)):
        assert_durations(file)
        decoded = media.decode(file.path)
        assert_colour(decoded, owner)
        assert_tones(decoded, {owner.tone_hz}, file.path.name)
    assert_durations(mixed)
    assert_tones(media.decode(mixed.path), {ALICE.tone_hz, BOB.tone_hz}, "the mix")

    # The WebM has what Chromium leaves out when recording with a timeslice: duration and cues.
    data = theirs.path.read_bytes()
    assert b"\x1c\x53\xbb\x6b" in data[-4096:], "no Cues at the end of the WebM"
    assert media.decode(theirs.path).codecs in ({"video": "vp9", "audio": "opus"}, {"video": "vp8", "audio": "opus"})
    for name, file in (("me", mine), ("bob", theirs)):
        assert_seekable_in_chrome(alice, name, recorded_seconds(file))


def test_mix_follows_members_joining_and_leaving(open_participant: OpenParticipant, tmp_path: Path) -> None:
    """A mix started alone; B joins, C joins and later leaves: each voice only while present."""
    channel = unique_channel("mix")
    alice, bob, carol = (open_participant(p) for p in (ALICE, BOB, CAROL))
    alice.join(channel)
    alice.page.evaluate(EVENTS_JS)
    started = rec.start(alice, "startRecordAac", {"save": "none"})
    t0 = started["startedAt"]

    def file_time() -> float:
        return (rec.page_now(alice) - t0) / 1000

    rec.wait_page_ms(alice, t0, 3000)
    bob_join = file_time()
    bob.join(channel)
    alice.expect_media_from(BOB, video=False)
    bob_in = file_time()
    rec.wait_page_ms(alice, rec.page_now(alice), 3000)
    carol_join = file_time()
    carol.join(channel)
    alice.expect_media_from(CAROL, video=False)
    carol_in = file_time()
    rec.wait_page_ms(alice, rec.page_now(alice), 4000)
    carol_leave = file_time()
    mark = alice.event_count()
    carol.leave_with_button()
    alice.wait_for_event("leaveChannel", "carol", after=mark)
    carol_out = file_time()
    rec.wait_page_ms(alice, rec.page_now(alice), 4000)
    mixed = rec.stop(alice, "stopRecordAac", directory=tmp_path, name="mix")

    assert_durations(mixed)
    decoded = media.decode(mixed.path)
    end = decoded.audio_seconds
    margin = 1.0
    windows = [
        ("alone", 1.0, bob_join - 0.2, {ALICE.tone_hz}),
        ("with bob", bob_in + margin, carol_join - 0.2, {ALICE.tone_hz, BOB.tone_hz}),
        ("with carol", carol_in + margin, carol_leave, {ALICE.tone_hz, BOB.tone_hz, CAROL.tone_hz}),
        ("after carol", carol_out + margin, end - 0.3, {ALICE.tone_hz, BOB.tone_hz}),
    ]
    for what, start, stop, present in windows:
        assert stop - start >= 1.0, f"window {what} too short: {start:.2f}-{stop:.2f}"
        assert_tones_between(decoded, start, stop, present, what)
    # No gap and no stall: the mix never falls silent while alice talks.
    levels = [
        media.tone_levels(media.segment(decoded, s, s + 0.5), decoded.rate, [ALICE.tone_hz])[ALICE.tone_hz]
        for s in np.arange(0.5, end - 0.5, 0.5)
    ]
    assert min(levels) >= media.TONE_PRESENT_DB - 10, f"alice's voice drops out of the mix: {levels}"


def assert_tones_between(decoded: media.Decoded, start: float, stop: float, present: set[int], what: str) -> None:
    levels = media.tone_levels(media.segment(decoded, start, stop), decoded.rate, TONES)
    for tone in TONES:
        if tone in present:
            assert levels[tone] >= media.TONE_PRESENT_DB, (
                f"{what} ({start:.1f}-{stop:.1f} s): {tone} Hz missing; {levels}"
            )
        else:
            assert levels[tone] <= media.TONE_ABSENT_DB, (
                f"{what} ({start:.1f}-{stop:.1f} s): {tone} Hz present; {levels}"
            )


def test_member_recording_survives_camera_off_on_and_reconnect(
    open_participant: OpenParticipant, daphne_server: Callable[..., Any], tmp_path: Path
) -> None:
    """B's camera and A's own camera go off and on (new local tracks), then everyone reconnects after
    the server restarts (new peer connections, new remote tracks): the files go on. When B leaves, B's
    recording ends by itself, recordEnded says why, and stop hands out what was recorded."""
    server = daphne_server(NETCALL_E2E_INSTANCE="rec-reconnect")
    alice, bob = (open_participant(p, server) for p in (ALICE, BOB))
    for page in (alice, bob):
        page.allow_console_error(r"WebSocket connection to .* failed")
    channel = unique_channel("survive")
    for page in (alice, bob):
        page.join(channel)
        page.page.evaluate(EVENTS_JS)
    alice.wait_for_members(["bob"])
    alice.expect_media_from(BOB)
    started = rec.start(alice, "startRecordMp4", {"account": "bob", "save": "none"})
    rec.start(alice, "startRecordMp4", {"save": "none"})  # herself
    rec.wait_page_ms(alice, started["startedAt"], 3000)

    camera_off = rec.page_now(alice)
    for page in (alice, bob):
        page.page.evaluate("async () => { await window.netcall.stopDevice(3); }")  # DEVICE_TYPE_VIDEO
    rec.wait_page_ms(alice, rec.page_now(alice), 2000)
    for page in (alice, bob):
        page.page.evaluate("async () => { await window.netcall.startDevice({ type: 3 }); }")
    camera_on = rec.page_now(alice)
    alice.expect_media_from(BOB)
    rec.wait_page_ms(alice, rec.page_now(alice), 2000)

    mark = alice.event_count()
    server.restart()
    alice.wait_for_event("connectionState", after=mark)
    alice.page.wait_for_function("() => window.netcall.connectionState === 'connected'", timeout=60_000)
    alice.wait_for_members(["bob"])
    alice.expect_media_from(BOB)
    rec.wait_page_ms(alice, rec.page_now(alice), 3000)
    running = alice.page.evaluate("() => window.netcall.getRecordings()")
    assert sorted((r["account"], r["state"]) for r in running) == [("alice", "recording"), ("bob", "recording")]
    assert all(r["size"] > 0 for r in running), running

    bob.leave_with_button()
    ended = wait_record_event(alice, "recordEnded", account="bob")
    assert ended["reason"] == "left", ended
    wait_record_event(alice, "recordStateChange", target="bob", state="stopped", local=True)
    file = rec.stop(alice, "stopRecordMp4", "bob", directory=tmp_path, name="bob")
    assert file.meta["reason"] == "left"
    assert file.meta["fileName"] == ended["result"]["fileName"]
    again = rec.call(alice, "stopRecordMp4", "bob")  # collected: nothing left to stop
    assert again["error"] == "not_recording", again
    mine = rec.stop(alice, "stopRecordMp4", directory=tmp_path, name="me")

    for recorded, owner in ((file, BOB), (mine, ALICE)):
        assert_durations(recorded)
        decoded = media.decode(recorded.path)
        assert_colour(decoded, owner)
        assert_tones(decoded, {owner.tone_hz}, recorded.path.name)
        # The owner's colour at both ends (before the camera went off, after the reconnect)...
        times, colours = decoded.frame_times, decoded.frame_colours
        lit = colours.max(axis=1) > 40
        assert lit[times < 2.5].any(), f"{owner.account}: no picture at the start"
        assert lit[times > recorded_seconds(recorded) - 2.0].any(), f"{owner.account}: no picture at the end"
        # ...and black while the camera was off.
        off = (camera_off - recorded.meta["startedAt"]) / 1000 + 0.5
        on = (camera_on - recorded.meta["startedAt"]) / 1000
        assert (~lit[(times > off) & (times < on)]).any(), f"{owner.account}: no black while the camera was off"


def test_demo_page_record_buttons_readout_and_files(open_participant: OpenParticipant) -> None:
    """The room page: a record button per tile and for the mix, a live readout, the finished files
    with a player and a download link, and everyone sees who records whom."""
    alice, bob = join_call(open_participant, [ALICE, BOB], unique_channel("demo"))
    alice.expect_media_from(BOB)
    page = alice.page
    page.select_option("#record-save", "none")
    bob_button = page.locator('figure.tile[data-account="bob"] button.record')
    expect(bob_button).to_have_text("Record bob")
    bob_button.click()
    expect(bob_button).to_have_attribute("aria-pressed", "true")
    page.click("#record-mix")
    expect(page.locator("#record-mix")).to_have_attribute("aria-pressed", "true")
    readout = page.locator('#record-running li[data-account="bob"]')
    expect(readout).to_contain_text("bob: 0:0")
    expect(readout).to_contain_text(re.compile(r"bob: 0:0[3-9]"), timeout=20_000)  # time and size go up
    expect(page.locator("#record-running li")).to_have_count(2)
    expect(bob.page.locator("#record-notices")).to_contain_text("alice is recording you.")
    expect(bob.page.locator("#record-notices")).to_contain_text("alice is recording the audio mix.")
    expect(page.locator("#record-notices")).to_contain_text("You are recording bob.")

    bob_button.click()
    page.click("#record-mix")
    files = page.locator("#record-files li")
    expect(files).to_have_count(2)
    video_item = page.locator('#record-files li[data-kind="mp4"]')
    expect(video_item.locator("video")).to_have_count(1)
    expect(video_item.locator("a[download]")).to_have_attribute("download", re.compile(r"^bob-.*\.mp4$"))
    expect(page.locator('#record-files li[data-kind="aac"] audio')).to_have_count(1)
    expect(page.locator("#record-running li")).to_have_count(0)
    expect(bob.page.locator("#record-notices")).to_have_text("Nobody is recording.")
    # The listed file plays: Chrome knows its length.
    duration = video_item.locator("video").evaluate(
        """(v) => new Promise((resolve) => {
            if (v.readyState >= 1) resolve(v.duration);
            v.addEventListener('loadedmetadata', () => resolve(v.duration), { once: true });
            v.load();
        })"""
    )
    assert duration is not None and 2.0 < duration < 60.0, duration


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("not_in_channel", "not_in_channel"),
        ("no_such_account", "no_such_account"),
        ("already_recording", "already_recording"),
        ("nothing_to_stop", "not_recording"),
        ("no_supported_format", "no_supported_format"),
    ],
)
def test_recording_errors(open_participant: OpenParticipant, case: str, code: str) -> None:
    alice = open_participant(ALICE)
    alice.join(unique_channel(f"err-{case}"))
    rec.install(alice)
    if case == "not_in_channel":
        alice.page.evaluate("async () => { await window.netcall.leaveChannel(); }")
        results = [rec.call(alice, "startRecordMp4", "alice"), rec.call(alice, "startRecordAac")]
    elif case == "no_such_account":
        results = [rec.call(alice, "startRecordMp4", "nobody"), rec.call(alice, "startRecordMp4", {"account": "x"})]
    elif case == "already_recording":
        rec.start(alice, "startRecordMp4", {"save": "none"})
        rec.start(alice, "startRecordAac", {"save": "none"})
        results = [rec.call(alice, "startRecordMp4", {"account": "alice"}), rec.call(alice, "startRecordAac")]
        for method in ("stopRecordMp4", "stopRecordAac"):
            assert rec.call(alice, method)["ok"]
    elif case == "nothing_to_stop":
        results = [rec.call(alice, "stopRecordMp4", "alice"), rec.call(alice, "stopRecordAac")]
    else:
        alice.page.evaluate("() => { MediaRecorder.isTypeSupported = () => false; }")
        results = [rec.call(alice, "startRecordMp4"), rec.call(alice, "startRecordAac")]
    for result in results:
        assert not result["ok"], result
        assert result["error"] == code, result
        assert result["name"] in ("InvalidStateError", "NotFoundError", "UnsupportedError"), result
    # Nothing was left running, and the room was not told of a recording that never started.
    assert alice.page.evaluate("() => window.netcall.getRecordings()") == []


# --- memory ---------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_long_streamed_recording_keeps_memory_flat(
    playwright_driver: Playwright, e2e_media_dir: Path, netcall_server: DaphneServer, tmp_path: Path
) -> None:
    """A 75 s recording (1 Mbit/s asked; random pixels make the encoder overshoot to ~4 Mbit/s) streamed
    into a file (the 'picker' sink, fed an origin-private file handle of an on-disk profile): the page's
    JS heap and the browser's memory stay flat while the file grows by ~40 MB.
    bench/recording_memory.py measures longer runs beside save: 'none'; docs/performance.md has the figures."""
    files = MediaFiles(
        wav=media_files_for(ALICE, e2e_media_dir).wav,
        y4m=memory.write_noise_y4m(e2e_media_dir / "noise.y4m"),
    )
    alice = memory.open_persistent_participant(
        playwright_driver, files, tmp_path / "profile", ALICE, netcall_server.url
    )
    try:
        alice.join(unique_channel("long"))
        samples, recorded = memory.record_long(
            alice, save="opfs", seconds=75, every=15, directory=tmp_path, name="long"
        )
        assert not alice.errors, alice.errors
    finally:
        alice.context.close()
    for s in samples:
        print(
            f"t={s.seconds:5.1f}s heap={s.js_heap_mb:6.2f} MB chromium={s.browser_rss_mb:7.1f} MB "
            f"written={s.written_mb:6.2f} MB"
        )
    assert recorded.meta["saved"] == "file"
    settled = [s for s in samples if s.seconds >= 14]
    written = settled[-1].written_mb - settled[0].written_mb
    heap = max(s.js_heap_mb for s in settled) - min(s.js_heap_mb for s in settled)
    browser_growth = settled[-1].browser_rss_mb - settled[0].browser_rss_mb
    assert written > 5.0, f"the file grew by {written:.2f} MB only: nothing to measure"
    assert heap < 4.0, f"JS heap grew by {heap:.1f} MB while {written:.1f} MB were written"
    assert browser_growth < written / 3, f"browser memory grew by {browser_growth:.1f} MB, {written:.1f} MB written"
    assert_durations(recorded)
