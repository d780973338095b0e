"""The sync source's measurement (recording/testing/timecode.py) on files with a known skew and lost audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from recording.testing import timecode as sync

SECONDS = 9


@pytest.mark.parametrize(("delay", "dropped"), [(0.12, 0.0), (-0.06, 0.4), (0.03, 1.9)])
def test_offsets_of_a_known_file(tmp_path: Path, delay: float, dropped: float) -> None:
    """An audio delay shows as a constant offset; audio lost in the middle moves every later beep earlier by
    as much, even by nearly a whole period (each beep is told apart by the tone after it)."""
    path = sync.write_sync_file(tmp_path / "sync.webm", seconds=SECONDS, audio_delay=delay, drop_audio=dropped)
    track = sync.measure_sync(path)
    expected = [(delay - (dropped if t > SECONDS / 2 else 0.0)) * 1000 for t in track.beep_times]
    assert len(track.offsets_ms) >= 3, track
    assert all(abs(got - want) <= 5 for got, want in zip(track.offsets_ms, expected, strict=True)), (
        track.offsets_ms,
        expected,
    )
    assert track.coded_frames == track.frames == SECONDS * sync.FPS
    # Lost time shows in the audio's length too (the source is a second longer; the file is cut at SECONDS).
    assert abs(track.audio_seconds - min(SECONDS, SECONDS + 1 + min(delay, 0) - dropped)) <= 0.1, track


@pytest.mark.parametrize("delay", [0.0, 0.12, -0.06])
def test_alignment_against_capture_times(tmp_path: Path, delay: float) -> None:
    """Held to a probe that saw the source as it was made (every frame and beep at its own time, on a page
    clock 5 s off the file's), each beep of a file whose audio is `delay` late shows that skew."""
    path = sync.write_sync_file(tmp_path / "sync.webm", seconds=SECONDS, audio_delay=delay)
    page = 5000.0
    probe = {
        "leads": [page],
        "frames": [[i * 1000 / sync.FPS, i, 0] for i in range(SECONDS * sync.FPS)],
        "beeps": [n * sync.PERIOD * 1000 + page for n in range(int(SECONDS / sync.PERIOD) + 1)],
    }
    beeps = sync.capture_alignment(path, probe)
    assert len(beeps) >= 3, beeps
    assert all(abs(b.skew_ms - delay * 1000) <= 5 for b in beeps), (beeps, delay)
