"""The live audio mix (recording/media/mixer.py): buffering, summing with saturation, resampling."""

from __future__ import annotations

import av
import numpy as np
import pytest

from recording.media.mixer import (
    MAX_BUFFER_SECONDS,
    RATE,
    START_BUFFER_SECONDS,
    AudioMixer,
    new_resampler,
    to_mono_s16,
)

START = int(START_BUFFER_SECONDS * RATE)  # samples a new voice waits for
LIMIT = int(MAX_BUFFER_SECONDS * RATE)  # samples a voice may hold
FRAME = RATE // 50  # one 20 ms frame


def tone(frequency: float, count: int, *, amplitude: int = 8000, rate: int = RATE) -> np.ndarray:
    t = np.arange(count) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def peaks(samples: np.ndarray, *, rate: int = RATE, count: int = 2) -> list[float]:
    """The `count` strongest frequencies, lowest first."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    frequencies = np.fft.rfftfreq(samples.size, 1 / rate)
    return sorted(float(f) for f in frequencies[np.argsort(spectrum)[-count:]])


def constant(value: int, count: int) -> np.ndarray:
    return np.full(count, value, dtype=np.int16)


def test_two_tones_mix_into_both_frequencies() -> None:
    mixer = AudioMixer()
    count = RATE // 10  # 0.1 s: 10 Hz bins, both tones fall exactly on one
    mixer.push("alice", tone(440, count))
    mixer.push("bob", tone(1000, count))
    mix = mixer.pull(count)
    assert mix.dtype == np.int16 and mix.size == count
    assert peaks(mix) == [440.0, 1000.0]
    np.testing.assert_array_equal(mix, tone(440, count).astype(np.int32) + tone(1000, count))


@pytest.mark.parametrize(("value", "limit"), [(30000, 32767), (-30000, -32768)])
def test_loud_voices_saturate_instead_of_wrapping(value: int, limit: int) -> None:
    mixer = AudioMixer()
    for account in ("alice", "bob", "carol"):
        mixer.push(account, constant(value, START))
    np.testing.assert_array_equal(mixer.pull(START), constant(limit, START))


def test_no_voices_is_silence() -> None:
    mix = AudioMixer().pull(FRAME)
    assert mix.dtype == np.int16
    np.testing.assert_array_equal(mix, np.zeros(FRAME, dtype=np.int16))


def test_a_new_voice_waits_for_its_start_buffer() -> None:
    mixer = AudioMixer()
    mixer.push("alice", constant(100, START - 1))
    assert not mixer.pull(FRAME).any()  # not yet played, and not consumed either
    mixer.push("alice", constant(200, 1))
    mix = mixer.pull(START)
    np.testing.assert_array_equal(mix[: START - 1], constant(100, START - 1))
    assert mix[-1] == 200


def test_a_voice_that_runs_dry_pads_with_silence_and_waits_again() -> None:
    mixer = AudioMixer()
    mixer.push("alice", constant(100, START))
    mix = mixer.pull(START + FRAME)
    np.testing.assert_array_equal(mix, np.concatenate([constant(100, START), constant(0, FRAME)]))
    mixer.push("alice", constant(100, FRAME))  # less than the start buffer: held back again
    assert not mixer.pull(FRAME).any()


def test_a_silent_member_does_not_disturb_the_others() -> None:
    mixer = AudioMixer()
    mixer.push("alice", constant(100, START))
    mixer.push("bob", constant(0, START))
    mixer.push("carol", constant(7, 10))  # never reaches its start buffer
    np.testing.assert_array_equal(mixer.pull(START), constant(100, START))


def test_muted_voice_is_silent_but_keeps_its_place_in_time() -> None:
    mixer = AudioMixer()
    mixer.push("alice", np.concatenate([constant(1, START), constant(2, START)]))
    mixer.set_muted("alice", True)
    assert not mixer.pull(START).any()  # the muted part is consumed, not delayed
    mixer.set_muted("alice", False)
    np.testing.assert_array_equal(mixer.pull(START), constant(2, START))


def test_forgotten_voice_is_gone() -> None:
    mixer = AudioMixer()
    mixer.push("alice", constant(100, START))
    mixer.forget("alice")
    mixer.forget("nobody")
    assert not mixer.pull(START).any()


def test_a_voice_running_ahead_is_trimmed_from_the_oldest_end() -> None:
    mixer = AudioMixer()
    frames = LIMIT // FRAME + 5
    for index in range(frames):
        mixer.push("alice", constant(index, FRAME))
    mix = mixer.pull(LIMIT + FRAME)
    kept = [int(v) for v in mix[:LIMIT:FRAME]]
    assert kept == list(range(frames - LIMIT // FRAME, frames))  # the newest 0.3 s
    assert not mix[LIMIT:].any()


def test_pull_splits_frames_across_calls() -> None:
    mixer = AudioMixer()
    samples = np.arange(START, dtype=np.int16)
    mixer.push("alice", samples)
    parts = [mixer.pull(size) for size in (7, 1000, START - 1007)]
    np.testing.assert_array_equal(np.concatenate(parts), samples)


def test_empty_push_is_ignored() -> None:
    mixer = AudioMixer()
    mixer.push("alice", np.zeros(0, dtype=np.int16))
    mixer.push("alice", constant(5, START))
    np.testing.assert_array_equal(mixer.pull(START), constant(5, START))


# --- decoding side: to_mono_s16 / new_resampler --------------------------------------------------------


def frame_of(samples: np.ndarray, *, layout: str, rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = rate
    frame.pts = 1234
    return frame


def test_stereo_48k_becomes_mono_unchanged() -> None:
    voice = tone(1000, FRAME)
    interleaved = np.stack([voice, voice], axis=1)
    mono = to_mono_s16(new_resampler(), frame_of(interleaved, layout="stereo", rate=RATE))
    assert mono.dtype == np.int16
    np.testing.assert_array_equal(mono, voice)


def test_stereo_downmix_averages_channels() -> None:
    left = constant(10000, FRAME)
    interleaved = np.stack([left, np.zeros_like(left)], axis=1)
    mono = to_mono_s16(new_resampler(), frame_of(interleaved, layout="stereo", rate=RATE))
    np.testing.assert_array_equal(mono, constant(5000, FRAME))


def test_44k1_is_resampled_to_48k_keeping_the_pitch() -> None:
    resampler = new_resampler()
    source = tone(1000, 44100, rate=44100)  # one second
    out = np.concatenate(
        [to_mono_s16(resampler, frame_of(chunk, layout="mono", rate=44100)) for chunk in np.split(source, 45)]
    )
    assert abs(out.size - RATE) < 480  # one second, less what the resampler still holds
    assert peaks(out[: RATE // 2], count=1) == [1000.0]
