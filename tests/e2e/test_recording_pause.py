"""Pause and resume into one file (issue 16, point 1): `pauseRecordMp4` / `resumeRecordMp4` and
`pauseRecordAac` / `resumeRecordAac` in a real browser.

Alice records herself (downloaded) and the mix (uploaded while it records), pauses both, and for the
3 s of the pause turns her camera and microphone off: a recording that kept recording while paused
would hold 3 s of black frames and silence, one that left a gap would have a hole in its timestamps.
The files have neither; they are that much shorter than the wall-clock time, their header durations
say so, her colour and tone are there on both sides of the pause point, and another member saw
`paused` and `resumed`. A page that crashes while paused leaves a journal the next page recovers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from recording.testing import media
from recording.testing import recorder as rec
from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE
from recording.testing.server import DaphneServer
from tests.support.recording_checks import (
    EVENTS_JS,
    OpenParticipant,
    assert_colour,
    crash_and_recover,
    record_events,
    unique_channel,
    wait_record_event,
)
from tests.support.uploads import download, upload_server_fixture, wait_for_status  # noqa: F401

pytestmark = pytest.mark.e2e

PAUSE_MS = 3000


def pause_for(
    page: ParticipantPage, pause: list[str], resume: list[str]
) -> tuple[int, int, int, int, list[dict[str, Any]]]:
    """Call the `pause` methods, turn camera and microphone off for PAUSE_MS, turn them on, call `resume`.
    Returns the page times before and after the pause calls and before and after the resume calls (the
    recorder paused somewhere inside each pair: a loaded page takes its time answering), and getRecordings()
    during the pause."""
    paused_at = rec.page_now(page)
    for method in pause:
        assert rec.call(page, method)["ok"], method
    paused_done = rec.page_now(page)
    page.page.evaluate("() => window.netcall.setMute({audio: true, video: true})")
    during: list[dict[str, Any]] = page.page.evaluate("() => window.netcall.getRecordings()")
    rec.wait_page_ms(page, paused_at, PAUSE_MS)
    page.page.evaluate("() => window.netcall.setMute({audio: false, video: false})")
    resumed_at = rec.page_now(page)
    for method in resume:
        assert rec.call(page, method)["ok"], method
    return paused_at, paused_done, resumed_at, rec.page_now(page), during


def assert_no_pause_in_file(decoded: media.Decoded, *, pause_s: float, what: str) -> None:
    """Recorded on both sides of `pause_s` (seconds into the file), with no gap and no black or silent span."""
    end = decoded.audio_seconds
    step = 0.5
    quiet = [
        round(s, 1)
        for s in np.arange(1.0, end - step, step)
        if media.tone_levels(media.segment(decoded, s, s + step), decoded.rate, [ALICE.tone_hz])[ALICE.tone_hz]
        < media.TONE_PRESENT_DB
    ]
    assert not quiet, f"{what}: alice's tone is missing at {quiet} s (pause point {pause_s:.1f} s, end {end:.1f} s)"
    for side, start, stop in (("before", 1.0, pause_s - 0.3), ("after", pause_s + 0.3, end - 0.3)):
        levels = media.tone_levels(media.segment(decoded, start, stop), decoded.rate, [ALICE.tone_hz])
        assert levels[ALICE.tone_hz] >= media.TONE_PRESENT_DB, f"{what} {side} the pause: {levels}"
    if "video" not in decoded.codecs:
        return
    times, colours = decoded.frame_times, decoded.frame_colours
    gaps = np.diff(np.sort(times))
    assert gaps.max() < 0.5, f"{what}: a {gaps.max():.2f} s hole in the video timestamps (pause at {pause_s:.1f} s)"
    later = times > 1.0
    dark = times[later & (colours.max(axis=1) <= 40)]
    assert len(dark) <= 2, f"{what}: {len(dark)} black frames (the camera was off only while paused): {dark[:10]}"
    for side, window in (("before", (times > 0.5) & (times < pause_s)), ("after", times > pause_s)):
        lit = colours[window & (colours.max(axis=1) > 40)]
        assert len(lit) > 10, f"{what}: no picture {side} the pause"
        assert np.all(np.abs(np.median(lit, axis=0) - np.array(ALICE.rgb)) <= 45.0), (side, np.median(lit, axis=0))


def assert_seeks(path: Path, at: float, what: str) -> None:
    """Seeking to `at` seconds lands there (an index, and timestamps that go on through the pause)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if container.streams.video else container.streams.audio[0]
        assert stream.time_base is not None
        container.seek(int(at / stream.time_base), stream=stream, backward=True)
        landed = next(f.time for f in container.decode(stream) if isinstance(f, av.VideoFrame | av.AudioFrame))
        assert landed is not None and at - 2.5 <= landed <= at + 0.1, f"{what}: seek to {at} s gave {landed}"


def assert_paused_duration(path: Path, decoded: media.Decoded, recorded_s: float, what: str) -> None:
    """Header and decoded durations are the recorded time (wall-clock minus paused), not the wall time,
    and the file seeks."""
    header = media.header_duration(path)
    print(f"{what}: recorded {recorded_s:.2f} s, header {header} s, audio {decoded.audio_seconds:.2f} s")
    assert header is not None, f"{what}: no duration in the header"
    assert abs(header - recorded_s) <= 0.6, f"{what}: header {header:.2f} s, recorded {recorded_s:.2f} s"
    assert abs(decoded.audio_seconds - recorded_s) <= 0.6, f"{what}: decodes to {decoded.audio_seconds:.2f} s"
    assert_seeks(path, recorded_s - 1.5, what)


def test_pause_and_resume_download_and_upload(
    upload_server: DaphneServer, open_participant: OpenParticipant, tmp_path: Path
) -> None:
    channel = unique_channel("pause")
    alice = open_participant(ALICE, upload_server)
    watcher = open_participant(ALICE.with_account("watcher"), upload_server)
    for page in (alice, watcher):
        page.join(channel)
        page.page.evaluate(EVENTS_JS)
    watcher.wait_for_members(["alice"])
    me = rec.start(alice, "startRecordMp4", {"save": "download"})
    mix = rec.start(alice, "startRecordAac", {"save": "upload"})
    rec.wait_page_ms(alice, mix["startedAt"], 4000)

    paused_at, paused_done, resumed_at, resumed_done, during = pause_for(
        alice, ["pauseRecordMp4", "pauseRecordAac"], ["resumeRecordMp4", "resumeRecordAac"]
    )
    assert sorted((r["kind"], r["state"], r["paused"]) for r in during) == [
        ("aac", "paused", True),
        ("mp4", "paused", True),
    ], during
    for kind in ("mp4", "aac"):  # the other member was told, both ways
        wait_record_event(watcher, "recordStateChange", kind=kind, state="resumed", recorder="alice")
    states = [(e["kind"], e["state"]) for e in record_events(watcher, "recordStateChange")]
    assert states.index(("mp4", "paused")) < states.index(("mp4", "resumed")), states
    assert states.index(("aac", "paused")) < states.index(("aac", "resumed")), states
    rec.wait_page_ms(alice, resumed_at, 4000)

    with alice.page.expect_download(timeout=rec.RECORD_TIMEOUT_MS) as download_info:
        video = rec.stop(alice, "stopRecordMp4", directory=tmp_path, name="me")
    assert download_info.value.suggested_filename == me["fileName"]
    mixed = rec.stop(alice, "stopRecordAac", directory=tmp_path, name="mix")
    shortest, longest = (resumed_at - paused_done) / 1000, (resumed_done - paused_at) / 1000
    for file in (video, mixed):
        paused = file.meta["pausedSeconds"]
        assert shortest - 0.25 <= paused <= longest + 0.25, (paused, shortest, longest)

    recorded = (video.meta["stoppedAt"] - video.meta["startedAt"]) / 1000 - video.meta["pausedSeconds"]
    decoded = media.decode(video.path)
    assert_paused_duration(video.path, decoded, recorded, "download")
    assert_colour(decoded, ALICE)
    assert_no_pause_in_file(decoded, pause_s=(paused_at - video.meta["startedAt"]) / 1000, what="download")

    # The upload: the server's file is the browser's; its seekable copy plays the time recorded.
    assert mixed.meta["saved"] == "upload" and mixed.meta["recordingId"], mixed.meta
    data = wait_for_status(upload_server, mixed.meta["recordingId"])
    seekable = tmp_path / f"mix-seekable.{data['container']}"
    seekable.write_bytes(download(upload_server.url + data["urls"]["seekable"]))
    recorded = (mixed.meta["stoppedAt"] - mixed.meta["startedAt"]) / 1000 - mixed.meta["pausedSeconds"]
    decoded = media.decode(seekable)
    assert set(decoded.codecs) == {"audio"}
    assert_paused_duration(seekable, decoded, recorded, "upload")
    assert_no_pause_in_file(decoded, pause_s=(paused_at - mixed.meta["startedAt"]) / 1000, what="upload")
    assert not alice.errors and not watcher.errors, (alice.errors, watcher.errors)


def test_crash_while_paused_is_recovered(open_participant: OpenParticipant, tmp_path: Path) -> None:
    """Alice records herself (WebM, so the other fixer is used too), pauses, and her tab crashes while
    paused: the next page recovers the file, holding what was recorded before the pause (the pause hands
    out what the recorder held), with its duration in the header, seekable, and says it was paused."""
    channel = unique_channel("pausecrash")
    alice = open_participant(ALICE)
    alice.join(channel)
    me = rec.start(alice, "startRecordMp4", {"save": "download", "format": "webm"})
    assert me["fileName"].endswith(".webm"), me
    rec.wait_page_ms(alice, me["startedAt"], 6000)
    paused_at = rec.page_now(alice)
    assert rec.call(alice, "pauseRecordMp4")["ok"]
    alice.page.wait_for_function(  # the journal has the chunk the pause handed out
        """(since) => new Promise((resolve) => {
             const open = indexedDB.open('netcall-journal');
             open.onsuccess = () => {
               const req = open.result.transaction('recordings').objectStore('recordings').getAll();
               req.onsuccess = () => resolve(req.result.some((r) => r.paused && r.updatedAt >= since));
             };
           })""",
        arg=paused_at,
    )
    rec.wait_page_ms(alice, paused_at, 1500)  # paused a while: nothing of it may end up in the file
    after, download = crash_and_recover(alice, channel, 1)
    recovered = [e for e in after.events("recordRecovered") if e.get("reason") == "recovered"]
    assert len(recovered) == 1 and recovered[0]["paused"] is True, recovered
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    decoded = media.decode(path)
    recorded = (paused_at - me["startedAt"]) / 1000
    header = media.header_duration(path)
    print(f"crash while paused: recorded {recorded:.2f} s, header {header} s, audio {decoded.audio_seconds:.2f} s")
    assert header is not None and abs(header - decoded.audio_seconds) < 1.0, (header, decoded.audio_seconds)
    # All of the time before the pause (the pause handed out what the recorder held; at most the block a
    # crash cuts is lost), and nothing of the paused time.
    assert recorded - 1.0 <= decoded.audio_seconds <= recorded + 0.5, (decoded.audio_seconds, recorded)
    assert_colour(decoded, ALICE)
    assert_seeks(path, decoded.audio_seconds - 2.0, "recovered")
