"""A sync source for the server recorder's tests: aiortc tracks that flash white and beep (1 kHz) at the
same instant every `PERIOD` seconds, timed from one shared start, and the analysis that finds the flashes
and beeps in recorded files. (The browser's sync source, for client recordings, is recording/testing/timecode.py.)"""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack

from tests.support.live.media import RATE, VIDEO_CLOCK

PERIOD = 2.0
FIRST = 1.0  # the first flash and beep, then every PERIOD
FPS = 15
BEEP_HZ = 1000
FLASH_FRAMES = 2
BEEP_SECONDS = 0.1


class SyncClock:
    """The instant both tracks count from (set when the first of them is asked for media)."""

    def __init__(self) -> None:
        self.start: float | None = None

    def origin(self) -> float:
        if self.start is None:
            self.start = time.monotonic()
        return self.start


class FlashTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, clock: SyncClock, size: tuple[int, int] = (320, 240)) -> None:
        super().__init__()
        self._clock, self._index = clock, 0
        black = np.full((size[1], size[0], 3), 20, dtype=np.uint8)
        white = np.full((size[1], size[0], 3), 235, dtype=np.uint8)
        self._frames = [
            av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p") for image in (black, white)
        ]

    async def recv(self) -> av.VideoFrame:
        start = self._clock.origin()
        await asyncio.sleep(max(0.0, start + self._index / FPS - time.monotonic()))
        flash = (self._index - int(FIRST * FPS)) % int(PERIOD * FPS) < FLASH_FRAMES and self._index >= FIRST * FPS
        frame = self._frames[flash].reformat()
        frame.pts, frame.time_base = int(self._index * VIDEO_CLOCK / FPS), fractions.Fraction(1, VIDEO_CLOCK)
        self._index += 1
        return frame


class BeepTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clock: SyncClock) -> None:
        super().__init__()
        self._clock, self._samples = clock, 0

    async def recv(self) -> av.AudioFrame:
        start = self._clock.origin()
        count = RATE // 50
        await asyncio.sleep(max(0.0, start + self._samples / RATE - time.monotonic()))
        index = np.arange(self._samples, self._samples + count)
        beeping = ((index - int(FIRST * RATE)) % int(PERIOD * RATE) < BEEP_SECONDS * RATE) & (index >= FIRST * RATE)
        pcm = (np.sin(2 * np.pi * BEEP_HZ * index / RATE) * 0.5 * 32767 * beeping).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._samples, fractions.Fraction(1, RATE)
        self._samples += count
        return frame


def flash_times(path: Path) -> list[float]:
    """When the picture turns white (file seconds), from a dark picture."""
    times, bright = [], False
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            luma = float(frame.to_ndarray(format="gray").mean())
            if luma > 128 and not bright and frame.time is not None:
                times.append(frame.time)
            bright = luma > 128
    return times


def beep_times(path: Path) -> list[float]:
    """When the 1 kHz beep starts (file seconds), by its FFT bin per 10 ms window."""
    pieces: list[tuple[float, np.ndarray]] = []
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            at = frame.time or 0.0
            frame.pts = None
            pieces.extend((at, out.to_ndarray().reshape(-1)) for out in resampler.resample(frame))
    # each piece where its timestamp puts it: a gap in the file (lost packets) stays a gap here
    start = pieces[0][0] if pieces else 0.0
    end = max((round((at - start) * RATE) + piece.size for at, piece in pieces), default=0)
    samples = np.zeros(end, dtype=np.float32)
    for at, piece in pieces:
        offset = round((at - start) * RATE)
        samples[offset : offset + piece.size] = piece
    window = RATE // 100
    bin_index = BEEP_HZ * window // RATE
    times, on = [], False
    for offset in range(0, samples.size - window, window):
        spectrum = np.abs(np.fft.rfft(samples[offset : offset + window]))
        loud = spectrum[bin_index] > 0.1 * window / 2 * 0.5
        if loud and not on:
            times.append(start + offset / RATE)
        on = loud
    return times


def offsets(flashes: list[float], beeps: list[float], *, after: float = 0.0) -> list[float]:
    """Beep minus flash for each flash (from `after` seconds into the file) with a beep within half a period."""
    found = []
    for flash in (f for f in flashes if f >= after):
        nearest = min(beeps, key=lambda beep: abs(beep - flash), default=None)
        if nearest is not None and abs(nearest - flash) < PERIOD / 2:
            found.append(nearest - flash)
    return found
