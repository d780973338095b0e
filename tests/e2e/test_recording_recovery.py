"""Client recordings that outlive their page, and the recorder's robustness:

- a tab that crashes mid-recording loses (almost) nothing: the next page of the same browser recovers the
  journalled recordings, saved the way they were meant to be ('download'; a file handle);
- the recorder keeps its own event listeners when the page calls `off(name)` without a function;
- an encoder that refuses the chosen format makes the recorder fall back to the next one;
- a recorded member who reloads comes back into the same file.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from recording.testing import media
from recording.testing import recorder as rec
from recording.testing.browser import DEFAULT_TIMEOUT_MS
from recording.testing.capture import ALICE, BOB
from tests.support.recording_checks import (
    EVENTS_JS,
    READ_OPFS_JS,
    TONES,
    OpenParticipant,
    assert_colour,
    assert_durations,
    assert_tones,
    crash_and_recover,
    join_call,
    unique_channel,
    wait_record_event,
)

pytestmark = pytest.mark.e2e

MIX_FILE = "mix-crash.m4a"
START_WITH_FILE_HANDLE_JS = """
async (fileName) => {
  // The mix streamed into a file handle (what 'picker' streams into), here of the origin-private file system.
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(fileName).catch(() => {});
  const handle = await root.getFileHandle(fileName, { create: true });
  return window.netcall.startRecordAac({ save: handle });
}
"""
JOURNALS_LEFT_JS = """
() => new Promise((resolve, reject) => {
  const open = indexedDB.open('netcall-journal');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const tx = open.result.transaction(['recordings', 'chunks'], 'readonly');
    const recordings = tx.objectStore('recordings').count();
    const chunks = tx.objectStore('chunks').count();
    tx.oncomplete = () => resolve([recordings.result, chunks.result]);
  };
})
"""


def test_crashed_tab_recordings_are_recovered_on_the_next_page(
    open_participant: OpenParticipant, tmp_path: Path
) -> None:
    """Alice records herself ('download') and the mix (streamed into a file handle); her tab crashes. The next
    page of the same browser, once joined, recovers both: the first downloaded, the second written into its
    file; each decodes with her colour and tone, its duration in the header, and holds all but the last few
    seconds recorded."""
    channel = unique_channel("crash")
    alice = open_participant(ALICE)
    alice.join(channel)
    me = rec.start(alice, "startRecordMp4", {"save": "download"})
    mix = alice.page.evaluate(START_WITH_FILE_HANDLE_JS, MIX_FILE)
    assert mix["save"] == "file", mix
    rec.wait_page_ms(alice, me["startedAt"], 8000)
    crashed_at = rec.page_now(alice)
    after, download = crash_and_recover(alice, channel, 2)
    assert download.suggested_filename == me["fileName"], download.suggested_filename
    recovered = [e for e in after.events("recordRecovered") if e.get("reason") == "recovered"]
    assert sorted(e["account"] for e in recovered) == ["alice", "alice"], after.events("recordRecovered")
    assert after.page.evaluate(JOURNALS_LEFT_JS) == [0, 0], "journals left after recovery"
    assert after.page.evaluate("() => window.netcall.recoverRecordings()") == []  # nothing twice

    # The video, downloaded under its own name: alice's colour and tone, a header duration.
    video = tmp_path / download.suggested_filename
    download.save_as(video)
    mix_path = tmp_path / MIX_FILE
    mix_path.write_bytes(base64.b64decode(after.page.evaluate(READ_OPFS_JS, MIX_FILE)))
    recorded = {
        video: (crashed_at - me["startedAt"]) / 1000,
        mix_path: (crashed_at - mix["startedAt"]) / 1000,
    }
    for path, seconds in recorded.items():
        header = media.header_duration(path)
        decoded = media.decode(path)
        print(f"{path.name}: recorded {seconds:.2f} s, recovered {decoded.audio_seconds:.2f} s, header {header} s")
        assert header is not None, f"{path.name}: no duration in the header"
        assert abs(header - decoded.audio_seconds) < 1.0, (path.name, header, decoded.audio_seconds)
        # All but the last few seconds (an MP4 fragment is written at each keyframe, every 2 s, then
        # handed out within the 1 s timeslice), and nothing invented.
        assert seconds - 3.0 <= decoded.audio_seconds <= seconds + 0.5, (path.name, decoded.audio_seconds, seconds)
        assert_tones(decoded, {ALICE.tone_hz}, path.name)
    decoded_video = media.decode(video)
    assert_colour(decoded_video, ALICE)
    assert decoded_video.video_seconds >= recorded[video] - 3.0, decoded_video.video_seconds
    assert set(media.decode(mix_path).codecs) == {"audio"}
    assert not after.errors, after.errors


def test_encoder_refusing_a_format_falls_back_to_the_next(open_participant: OpenParticipant, tmp_path: Path) -> None:
    """H.264 refuses an absurd bit rate (its encoder fails to initialise): the recorder retries with VP9 in MP4.
    With no other format to try, start rejects with recorder_failed and leaves nothing running."""
    alice = open_participant(ALICE)
    alice.join(unique_channel("fallback"))
    alice.page.evaluate(EVENTS_JS)
    refused = rec.start(alice, "startRecordMp4", {"save": "none", "videoBitsPerSecond": 1e12})
    assert refused["fileName"].endswith(".mp4"), refused
    assert "vp9" in refused["mimeType"] or "vp09" in refused["mimeType"], refused
    assert any("refused" in line and "avc3" in line for line in alice.console), alice.console[-20:]
    rec.wait_page_ms(alice, refused["startedAt"], 4000)
    file = rec.stop(alice, "stopRecordMp4", directory=tmp_path, name="fallback")
    assert_durations(file)
    decoded = media.decode(file.path)
    assert decoded.codecs.get("video") == "vp9", decoded.codecs
    assert_colour(decoded, ALICE)

    # Only H.264 left to try: the refusal is the answer.
    alice.page.evaluate("() => { MediaRecorder.isTypeSupported = (t) => t === 'video/mp4;codecs=avc3,opus'; }")
    result = rec.call(alice, "startRecordMp4", {"save": "none", "videoBitsPerSecond": 1e12})
    assert not result["ok"] and result["error"] == "recorder_failed", result
    assert alice.page.evaluate("() => window.netcall.getRecordings()") == []
    assert alice.page.evaluate(JOURNALS_LEFT_JS) == [0, 0], "a failed start left a journal"


def test_reload_of_the_recorded_member_keeps_the_same_file(open_participant: OpenParticipant, tmp_path: Path) -> None:
    """Alice records Bob; Bob's page reloads (a drop, not a leave): Alice's recording carries on in the same
    file, with Bob before and after and only a short gap. Before the reload the page removes every listener
    of the events the recorder follows (`off(name)` without a function): the recorder's own are untouched,
    so it still picks Bob up again, and still ends the file when he finally leaves."""
    alice, bob = join_call(open_participant, [ALICE, BOB], unique_channel("reload"))
    alice.expect_media_from(BOB)
    started = rec.start(alice, "startRecordMp4", {"account": "bob", "save": "none"})
    rec.wait_page_ms(alice, started["startedAt"], 4000)
    alice.page.evaluate(
        """() => { for (const name of ['joinChannel', 'leaveChannel', 'remoteTrack', 'memberUpdated',
                                       'localTrack', 'connectionState']) window.netcall.off(name); }"""
    )

    session = alice.page.evaluate("() => window.netcall.getMember('bob').session")
    reload_at = rec.page_now(alice)
    bob.reload()
    assert bob.page.evaluate("() => performance.getEntriesByType('navigation')[0].type") == "reload"
    alice.page.wait_for_function("(s) => window.netcall.getMember('bob')?.session !== s", arg=session)
    alice.wait_for_members(["bob"])
    alice.page.wait_for_function(  # bob's new tracks reach alice (her probe hooks were removed by off())
        """() => { const s = window.netcall.getRemoteStream('bob');
                   return !!s && s.getTracks().some((t) => t.readyState === 'live' && !t.muted); }""",
        timeout=DEFAULT_TIMEOUT_MS,
    )
    alice.expect_media_from(BOB)
    back_at = rec.page_now(alice)
    rec.wait_page_ms(alice, back_at, 5000)
    running = alice.page.evaluate("() => window.netcall.getRecordings()")
    assert [(r["account"], r["state"]) for r in running] == [("bob", "recording")], running
    assert not [e for e in alice.page.evaluate("() => window.__recEvents") if e["name"] == "recordEnded"]

    bob.leave_with_button()
    ended = wait_record_event(alice, "recordEnded", account="bob")
    assert ended["reason"] == "left", ended
    file = rec.stop(alice, "stopRecordMp4", "bob", directory=tmp_path, name="bob")
    assert file.meta["reason"] == "left"

    assert_durations(file)
    decoded = media.decode(file.path)
    assert_colour(decoded, BOB)
    reload_s = (reload_at - started["startedAt"]) / 1000
    back_s = (back_at - started["startedAt"]) / 1000
    end_s = decoded.audio_seconds
    for what, start, stop in (("before", 1.0, reload_s - 0.3), ("after", back_s + 0.5, end_s - 0.5)):
        levels = media.tone_levels(media.segment(decoded, start, stop), decoded.rate, TONES)
        assert levels[BOB.tone_hz] >= media.TONE_PRESENT_DB, f"{what} the reload ({start:.1f}-{stop:.1f} s): {levels}"
        times, colours = decoded.frame_times, decoded.frame_colours
        window = (times > start) & (times < stop)
        lit = colours[window & (colours.max(axis=1) > 40)]
        assert len(lit), f"no picture of bob {what} the reload"
        assert np.all(np.abs(np.median(lit, axis=0) - np.array(BOB.rgb)) <= 45.0), np.median(lit, axis=0)
    # The gap: how long bob's voice is missing from the file around the reload.
    step = 0.25
    missing = sum(
        step
        for s in np.arange(1.0, end_s - step, step)
        if media.tone_levels(media.segment(decoded, s, s + step), decoded.rate, [BOB.tone_hz])[BOB.tone_hz]
        < media.TONE_PRESENT_DB
    )
    print(f"reload at {reload_s:.1f} s, bob back at {back_s:.1f} s; bob missing for {missing:.2f} s of {end_s:.1f} s")
    assert missing <= max(back_s - reload_s, 0) + 1.5, (missing, reload_s, back_s)
    assert missing <= 8.0, f"bob is missing for {missing:.1f} s: not a short gap"
