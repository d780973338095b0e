"""Client recordings keep the wall-clock timeline (issue 13, point 1).

A sync source (its fake camera flashes white and its fake microphone beeps at 1 kHz together every
2 s, timecode.py) records itself while another member records it and the mix, all at once, while a CPU
hog runs and the other member's page stalls for a moment. The flash-to-beep offsets of each file are
measured by decoding it (PyAV) and compared with the source's own, period by period.

The source is what its devices captured: in the sync source's page, each beep's capture time (the
microphone's AudioData timestamps) and each frame's (the camera's VideoFrame timestamps, moved to the
page's clock), CAPTURE_PROBE_JS. Chromium's fake camera and microphone start independently, tens of ms
apart, and drift apart on a busy machine: only a same-run, same-period comparison tells a recorder's skew
from the devices'. A plain MediaRecorder on the same tracks (WebM, `source`) follows the captured offsets
exactly, 46-48 ms later in every run: WebM's own constant, not the devices' (so it is no reference).

A member's recording is held to what the other browser received (a plain MediaRecorder on the remote
stream, `received`): it adds no skew that changes over the file and loses no time. (Holding it to the
source itself, by capture times, is issue 13's open part: the receiving browser's own play-out is off by
40-370 ms on a loaded machine, and moves; docs/wip/issue-13-lip-sync.patch.)

Per-run figures (ms, own file minus captured, periods 2-7; 16 runs, 2026-12-01, load 0.5-6 plus the hog):
2.1…7.6, across camera off/on 3.3…6.6 (before both relays started with the recorder: 24-50 ms, a different
amount in every run); the member minus what was received constant within each run to 1.1 (docs/performance.md).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recording.testing import recorder as rec
from recording.testing import timecode as sync
from recording.testing.browser import ParticipantPage
from recording.testing.capture import BOB, SYNCER
from tests.support.recording_checks import OpenParticipant, join_call, unique_channel

pytestmark = pytest.mark.e2e

RECORD_MS = 10_000
SYNC_MS = 50.0  # audio within this of video, relative to the source
# The audio's decoded length against the video's, as issue 13 asks. (The MP4 files' audio used to decode
# 80 ms short at the start: Chromium writes an Opus pre-skip of 3840 samples, mp4-fix.js now 312.)
LENGTH_S = 0.1
# Two beeps' distance in a file against their reference's: lost (or doubled) time. The audio timeline follows
# an input's samples, not its timestamps, until the two part by JUMP_US (audio-timeline.js, 40 ms): a starved
# fake microphone whose timestamps run 27 ms ahead of its samples shows as beeps 27 ms closer (measured).
GAP_MS = 45.0
STALL_MS = 600  # a page busy for this long: the audio it could not read in time becomes silence
STALL_JS = f"() => {{ const end = performance.now() + {STALL_MS}; while (performance.now() < end) {{}} }}"


@pytest.fixture
def cpu_hog() -> Iterator[None]:
    """One busy loop per core while the recordings run."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def fetch_raw(page: ParticipantPage, name: str, path: Path) -> Path:
    path.write_bytes(base64.b64decode(page.page.evaluate("(n) => window.__rawRec.stop(n)", name)))
    return path


def by_period(track: sync.SyncTrack) -> dict[int, float]:
    return dict(zip(track.periods, track.offsets_ms, strict=True))


def beeps_ms(track: sync.SyncTrack) -> dict[int, float]:
    return {p: t * 1000 for p, t in zip(track.periods, track.beep_times, strict=True)}


def assert_keeps_time(track: sync.SyncTrack, source: sync.SyncTrack, timeline: dict[int, float], what: str) -> None:
    """No lost time: the audio lasts as long as the video (give or take what the fake devices themselves
    do: a starved fake camera falls behind), and the beeps come as far apart as in `timeline` (ms by period:
    as they were captured, where a starved fake microphone's timestamps jump and the recording keeps that
    timeline, the gap included; or as the receiving browser played them out)."""
    devices = abs(source.audio_seconds - source.video_seconds)
    assert abs(track.audio_seconds - track.video_seconds) <= LENGTH_S + devices, (
        f"{what}: audio decodes to {track.audio_seconds:.3f} s, video to {track.video_seconds:.3f} s "
        f"(the source's own recording: {source.audio_seconds:.3f} s and {source.video_seconds:.3f} s)"
    )
    beeps = beeps_ms(track)
    pairs = [(p, q) for p, q in zip(sorted(beeps), sorted(beeps)[1:], strict=False) if p in timeline and q in timeline]
    off = {f"{p}-{q}": round(beeps[q] - beeps[p] - (timeline[q] - timeline[p]), 1) for p, q in pairs}
    assert len(off) >= 2 and all(abs(d) <= GAP_MS for d in off.values()), (
        f"{what}: beeps further apart than in its reference by (ms) {off}"
    )


@pytest.mark.timeout(300)
def test_recordings_keep_the_timeline_under_load(
    open_participant: OpenParticipant, cpu_hog: None, tmp_path: Path
) -> None:
    syncer, bob = join_call(open_participant, [SYNCER, BOB], unique_channel("sync"))
    bob.page.wait_for_function(
        "() => { const s = window.netcall.getRemoteStream('syncer'); return !!s && s.getTracks().length === 2; }"
    )
    syncer.page.evaluate(sync.RAW_RECORDER_JS)
    syncer.page.evaluate(f"() => ({sync.CAPTURE_PROBE_JS})(window.netcall.getLocalStream())")
    bob.page.evaluate(sync.RAW_RECORDER_JS)
    syncer.page.evaluate("() => window.__rawRec.start('source', window.netcall.getLocalStream())")
    bob.page.evaluate("() => window.__rawRec.start('received', window.netcall.getRemoteStream('syncer'))")
    mine = rec.start(syncer, "startRecordMp4", {"save": "none"})
    theirs = rec.start(bob, "startRecordMp4", {"account": "syncer", "save": "none"})
    rec.start(bob, "startRecordAac", {"save": "none"})

    rec.wait_page_ms(bob, theirs["startedAt"], RECORD_MS // 2)
    bob.page.evaluate(STALL_JS)  # the member's recorder and the mix miss their audio for a moment
    rec.wait_page_ms(bob, theirs["startedAt"], RECORD_MS)

    # All three stopped before any file is read out, the member's first: stopping a recording (and reading
    # a file out) keeps a page busy, and a busy sender sends its audio late, which the member's recording
    # follows only a moment later.
    stopped = {
        "member": rec.stop_only(bob, "stopRecordMp4", "syncer", name="member"),
        "mix": rec.stop_only(bob, "stopRecordAac", name="mix"),
        "own": rec.stop_only(syncer, "stopRecordMp4", name="own"),
    }
    own = rec.fetch(syncer, stopped["own"], directory=tmp_path, name="own")
    member = rec.fetch(bob, stopped["member"], directory=tmp_path, name="member")
    mix = rec.fetch(bob, stopped["mix"], directory=tmp_path, name="mix")
    probe = syncer.page.evaluate("() => { window.__captureProbe.stopped = true; return window.__captureProbe; }")
    captured = sync.capture_track(probe)
    print(f"captured: {captured.offsets_ms}")
    source = sync.measure_sync(fetch_raw(syncer, "source", tmp_path / "source.webm"))
    received = sync.measure_sync(fetch_raw(bob, "received", tmp_path / "received.webm"))
    own_track = sync.measure_sync(own.path)
    member_track = sync.measure_sync(member.path)
    for name, track in (("source", source), ("own", own_track), ("received", received), ("member", member_track)):
        print(f"{name}: offsets {by_period(track)} audio {track.audio_seconds:.3f} s video {track.video_seconds:.3f} s")
        against = {
            p: round(o - captured.offsets_ms[p], 1) for p, o in by_period(track).items() if p in captured.offsets_ms
        }
        print(f"  {name} - captured: {against}")
    assert mine["startedAt"] > 0

    # Yourself: the source's own offsets (its capture times), period by period, from the first beep to the last.
    reference = captured.offsets_ms
    common = [p for p in by_period(own_track) if p in reference]
    assert len(common) >= 3, f"too few beeps to compare: own {by_period(own_track)}, captured {reference}"
    skew = {p: round(by_period(own_track)[p] - reference[p], 1) for p in common}
    assert all(abs(s) <= SYNC_MS for s in skew.values()), f"own recording against the source (ms): {skew}"
    assert_keeps_time(own_track, source, captured.beeps_ms, "own recording")

    # The member: what the browser received, no skew added that changes over the file, and no lost time.
    heard = by_period(received)
    common = [p for p in by_period(member_track) if p in heard]
    assert len(common) >= 3, f"too few beeps to compare: member {by_period(member_track)}, received {heard}"
    added = {p: round(by_period(member_track)[p] - heard[p], 1) for p in common}
    print(f"member - received: {added}")
    assert max(added.values()) - min(added.values()) <= SYNC_MS, (
        f"the member's recording against the received stream (ms): {added}"
    )
    assert_keeps_time(member_track, received, beeps_ms(received), "member recording")

    # The mix: as long as the time it was recorded (lost time is seconds; the recorder writes 0.1 s past
    # the stop, and its 'start' event, which startedAt comes from, may come late on a busy page).
    wall = (mix.meta["stoppedAt"] - mix.meta["startedAt"]) / 1000
    mixed = sync.audio_seconds(mix.path)
    assert -LENGTH_S <= mixed - wall <= 0.3, f"the mix holds {mixed:.3f} s of audio, recorded for {wall:.3f} s"


CAMERA_OFF_MS = ((4_000, 6_000), (10_000, 11_000))  # (off, on again) from the recording's start
CAMERA_RECORD_MS = 16_000


@pytest.mark.timeout(300)
def test_own_recording_keeps_the_timeline_across_camera_off_and_on(
    open_participant: OpenParticipant, cpu_hog: None, tmp_path: Path
) -> None:
    """The sync source turns its camera off and on twice while it records itself (each time a new
    camera track, whose frames start afresh out of step with the microphone's beeps): every beep in the
    file lies where the video captured with it lies, before, between and after."""
    (syncer,) = join_call(open_participant, [SYNCER], unique_channel("sync-camera"))
    syncer.page.evaluate(f"() => ({sync.CAPTURE_PROBE_JS})(() => window.netcall.getLocalStream())")
    started = rec.start(syncer, "startRecordMp4", {"save": "none"})
    for off, on in CAMERA_OFF_MS:
        rec.wait_page_ms(syncer, started["startedAt"], off)
        syncer.page.evaluate("async () => { await window.netcall.stopDevice(3); }")  # DEVICE_TYPE_VIDEO
        rec.wait_page_ms(syncer, started["startedAt"], on)
        syncer.page.evaluate("async () => { await window.netcall.startDevice({ type: 3 }); }")
    rec.wait_page_ms(syncer, started["startedAt"], CAMERA_RECORD_MS)
    own = rec.stop(syncer, "stopRecordMp4", directory=tmp_path, name="own")
    probe = syncer.page.evaluate("() => { window.__captureProbe.stopped = true; return window.__captureProbe; }")

    assert len(probe["leads"]) == 1 + len(CAMERA_OFF_MS), f"camera runs the probe saw: {len(probe['leads'])}"
    beeps = sync.capture_alignment(own.path, probe)
    print(f"own across camera off/on: {[(round(b.file_seconds, 2), b.skew_ms) for b in beeps]}")
    # A beep in each camera run (the file's time runs with the page's: the runs' bounds, less a margin).
    edges = [0, *(ms for off_on in CAMERA_OFF_MS for ms in off_on), CAMERA_RECORD_MS]
    runs = list(zip(edges[::2], edges[1::2], strict=True))
    for start, end in runs:
        inside = [b for b in beeps if start / 1000 + 0.3 < b.file_seconds < end / 1000 - 0.3]
        assert inside, f"no beep judged in the camera run {start}-{end} ms: {beeps}"
    skews = [b.skew_ms for b in beeps]
    assert all(abs(s) <= SYNC_MS for s in skews), f"own recording, beeps against video (ms): {skews}"
