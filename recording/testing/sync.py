"""A sync source for measuring lip sync: a WAV that beeps and a Y4M that flashes white at the same instants
every SYNC_PERIOD s (or with a chosen offset between them, to make a known A/V skew). Fed to a participant's
fake microphone and camera (`participant(..., media="sync")`); `recording.testing.media.measure` finds the
flashes and beeps in a recording and reports their offsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fakefiles import write_wav, write_y4m

AUDIO_RATE = 48_000
VIDEO_FPS = 15  # the capture rate the SDK asks for: Chromium's fake camera then plays every frame once
# A sync source: a beep and a flash every SYNC_PERIOD seconds. Its files are longer than any test so that
# they never loop (Chromium's fake camera adds a frame at each loop: flashes would drift from the beeps).
SYNC_PERIOD = 2.0
SYNC_BEEP_SECONDS = 0.1
SYNC_FLASH_FRAMES = 3  # 200 ms: a frame or two dropped by a starved encoder still leaves a flash
SYNC_SECONDS = 40
SYNC_WIDTH, SYNC_HEIGHT = 160, 120
WHITE_YCBCR = (255, 128, 128)


def write_sync_wav(path: Path, tone_hz: int, *, offset_ms: int = 0, seconds: int = SYNC_SECONDS) -> Path:
    """Silence with a SYNC_BEEP_SECONDS beep of `tone_hz` every SYNC_PERIOD s, starting at `offset_ms`."""
    total = AUDIO_RATE * seconds
    samples = np.zeros(total, dtype=np.float64)
    beep = int(AUDIO_RATE * SYNC_BEEP_SECONDS)
    t = np.arange(beep, dtype=np.float64) / AUDIO_RATE
    shape = 0.5 * np.sin(2 * np.pi * tone_hz * t) * np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)
    start = offset_ms / 1000
    while start + SYNC_BEEP_SECONDS < seconds:
        first = round(start * AUDIO_RATE)
        samples[first : first + beep] = shape
        start += SYNC_PERIOD
    return write_wav(path, samples, rate=AUDIO_RATE)


def write_sync_y4m(
    path: Path, ycbcr: tuple[int, int, int], *, fps: int = VIDEO_FPS, seconds: int = SYNC_SECONDS
) -> Path:
    """A picture of one colour (full-range YCbCr, see capture.rgb_to_ycbcr) with SYNC_FLASH_FRAMES white
    frames every SYNC_PERIOD s (from 0 s), at the capture rate."""
    width, height = SYNC_WIDTH, SYNC_HEIGHT

    def frame(colour: tuple[int, int, int]) -> bytes:
        y, cb, cr = colour
        planes = (
            np.full((height, width), y, dtype=np.uint8),
            np.full((height // 2, width // 2), cb, dtype=np.uint8),
            np.full((height // 2, width // 2), cr, dtype=np.uint8),
        )
        return b"".join(p.tobytes() for p in planes)

    plain, flash = frame(ycbcr), frame(WHITE_YCBCR)
    period = round(SYNC_PERIOD * fps)
    frames = (flash if index % period < SYNC_FLASH_FRAMES else plain for index in range(fps * seconds))
    return write_y4m(path, frames, width=width, height=height, fps=fps)
