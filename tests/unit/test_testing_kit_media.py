"""recording.testing.media on files of known content: what it measures, and that a wrong expectation fails
with a message naming the measured value (a missing tone, a duration off by 5 s, an injected A/V skew)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recording.testing.media import assert_media, measure
from tests.support.mediafiles import write_sync_media, write_test_media


@pytest.fixture(scope="module")
def red_440(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_media(tmp_path_factory.mktemp("kit") / "red.webm", seconds=4.0, tone_hz=440.0, rgb=(255, 0, 0))


def test_right_expectations_pass_and_return_the_measurement(red_440: Path) -> None:
    found = assert_media(red_440, duration=4.0, tones={440: True, 660: False}, colour="red", seekable=True)
    assert found.codecs == {"video": "vp8", "audio": "opus"}
    assert found.peak_hz == pytest.approx(440, abs=5)
    assert found.av_sync_ms is None  # no sync source in a steady picture


def test_a_tone_that_is_not_there_fails_naming_its_level(red_440: Path) -> None:
    with pytest.raises(
        AssertionError, match=r"660 Hz missing: its level is -\d+\.\d dB .*strongest sound is at 44\d Hz"
    ):
        assert_media(red_440, tones={660: True})


def test_a_duration_off_by_5_s_fails_naming_the_measured_duration(red_440: Path) -> None:
    with pytest.raises(AssertionError, match=r"decoded duration is 4\.\d\d s, expected 9\.00 s ± 0\.90 s"):
        assert_media(red_440, duration=9.0)


def test_a_wrong_colour_fails_naming_the_measured_colour(red_440: Path) -> None:
    with pytest.raises(AssertionError, match=r"colour is \(2\d\d, \d+, \d+\), expected green \(0, 255, 0\)"):
        assert_media(red_440, colour="green")


@pytest.mark.parametrize("offset_ms", [0, 300])
def test_sync_source_offsets_are_measured(tmp_path: Path, offset_ms: int) -> None:
    path = write_sync_media(tmp_path / "sync.webm", seconds=6.0, offset_ms=offset_ms)
    found = measure(path)
    assert len(found.flashes) == 3 and len(found.beeps) == 3, (found.flashes, found.beeps)
    assert found.av_sync_ms == pytest.approx(offset_ms, abs=30)  # 10 ms windows, Opus's look-ahead trimmed


def test_injected_av_skew_fails_naming_the_measured_offset(tmp_path: Path) -> None:
    path = write_sync_media(tmp_path / "skewed.webm", seconds=6.0, offset_ms=300)
    with pytest.raises(AssertionError, match=r"A/V offset is \+[23]\d\d ms \(beeps after flashes.*within ±80 ms"):
        assert_media(path, av_sync_ms=80)


def test_av_sync_without_a_sync_source_says_so(red_440: Path) -> None:
    with pytest.raises(AssertionError, match=r"no sync source to measure A/V sync by: 0 flashes"):
        assert_media(red_440, av_sync_ms=80)
