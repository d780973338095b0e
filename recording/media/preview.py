"""Pictures of a recorded file for the library: a poster frame, a thumbnail strip, a waveform and an audio
level track, from one decoding pass with PyAV + numpy.

PNGs are written with FFmpeg's own PNG encoder through PyAV (already a dependency, and the only media
library the app imports), so no image library is needed. Memory is bounded by the recording's duration
(one peak and one power value per 10 ms of audio, a handful of small thumbnails), never by its size.
"""

from __future__ import annotations

import logging
import math
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from .inspect import decodable_frames

logger = logging.getLogger(__name__)

POSTER_WIDTH = 640
THUMB_WIDTH = 160
THUMBS_MAX = 10
THUMB_SECONDS = 2.0  # at most one thumbnail per this many seconds (a 6 s clip gets 3)
WAVEFORM_SIZE = (800, 96)
WAVEFORM_RGBA = (31, 95, 191, 255)  # the library's link blue, opaque on a transparent background
LEVEL_RATE = 100  # audio windows per second for peaks (10 ms)
LEVEL_INTERVAL = 0.1  # seconds per value of the level track
SILENCE_DB = -90.0
SPEAKING_DB = -40.0  # a window this loud or louder counts as speech
SPEAKING_HANG = 0.3  # seconds a pause may last inside one span of speech
SPEAKING_MIN = 0.2  # shorter bursts are not speech


@dataclass
class Previews:
    """What `media_previews` wrote into its directory (None where the file has no such stream)."""

    poster: Path | None = None
    thumbnails: Path | None = None
    waveform: Path | None = None
    thumbnail_times: list[float] = field(default_factory=list)
    thumbnail_size: tuple[int, int] = (0, 0)
    levels: list[float] = field(default_factory=list)  # dBFS per LEVEL_INTERVAL from the file's start
    speaking: list[tuple[float, float]] = field(default_factory=list)

    def timeline(self) -> dict[str, Any]:
        """The JSON-able part of a recording's timeline that comes from its media."""
        return {
            "levelInterval": LEVEL_INTERVAL,
            "levels": [round(v, 1) for v in self.levels],
            "speaking": [[round(a, 2), round(b, 2)] for a, b in self.speaking],
            "thumbnails": {
                "times": [round(t, 2) for t in self.thumbnail_times],
                "width": self.thumbnail_size[0],
                "height": self.thumbnail_size[1],
            },
        }


def png_bytes(image: np.ndarray) -> bytes:
    """A PNG of an (h, w, 3) RGB or (h, w, 4) RGBA uint8 array, by FFmpeg's PNG encoder."""
    height, width, channels = image.shape
    pix_fmt = {3: "rgb24", 4: "rgba"}[channels]
    codec: Any = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, pix_fmt
    packets = codec.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=pix_fmt))
    packets += codec.encode(None)
    return b"".join(bytes(p) for p in packets)


def thumbnail_times(duration: float) -> list[float]:
    """When the strip's thumbnails are taken: the middle of equal slices of the recording."""
    if duration <= 0:
        return [0.0]
    count = max(1, min(THUMBS_MAX, round(duration / THUMB_SECONDS)))
    return [(i + 0.5) * duration / count for i in range(count)]


def poster_time(duration: float) -> float:
    """A frame early on, past the black or frozen first frames a browser recorder may start with."""
    return min(max(1.0, duration * 0.1), duration / 2) if duration > 0 else 0.0


def _scaled(frame: av.VideoFrame, width: int) -> np.ndarray:
    height = max(2, round(frame.height * width / max(1, frame.width)) // 2 * 2)
    return np.asarray(frame.reformat(width=width, height=height, format="rgb24").to_ndarray())


class _Frames:
    """Keeps the first decoded frame at or after each wanted time (or the last before it, at the end)."""

    def __init__(self, times: list[float], width: int) -> None:
        self.times = times
        self.width = width
        self.images: list[np.ndarray | None] = [None] * len(times)
        self.last: av.VideoFrame | None = None
        self.next = 0

    def offer(self, frame: av.VideoFrame, time: float) -> None:
        self.last = frame
        while self.next < len(self.times) and time >= self.times[self.next]:
            self.images[self.next] = _scaled(frame, self.width)
            self.next += 1

    def finish(self) -> list[np.ndarray]:
        if self.last is not None:
            for i in range(self.next, len(self.times)):
                self.images[i] = _scaled(self.last, self.width)
        return [image for image in self.images if image is not None]


class _Audio:
    """Peak and mean power of each 10 ms of the audio mixed down to mono, in compact arrays. Read at the
    file's own rate: no resampling (it would cost as much as decoding)."""

    def __init__(self) -> None:
        self.window = 0
        self.carry = np.zeros(0, dtype=np.float32)
        self.pending: list[np.ndarray] = []  # frames gathered into about a second, then measured at once
        self.pending_samples = 0
        self.peaks = array("f")
        self.powers = array("f")
        self.start: float | None = None

    def offer(self, frame: av.AudioFrame, time: float | None) -> None:
        if self.start is None:
            self.start = time or 0.0
            self.window = max(1, frame.sample_rate // LEVEL_RATE)
        data = np.asarray(frame.to_ndarray())
        channels = max(1, len(frame.layout.channels))
        if channels == 1:
            mono = data.reshape(-1)
        else:
            mono = data.mean(axis=0) if frame.format.is_planar else data.reshape(-1, channels).mean(axis=1)
        if data.dtype.kind in "iu":
            mono = mono.astype(np.float32) / np.float32(2 ** (8 * data.dtype.itemsize - 1))
        self.pending.append(mono.astype(np.float32, copy=False))
        self.pending_samples += len(mono)
        if self.pending_samples >= 50 * self.window:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        data = np.concatenate([self.carry, *self.pending])
        self.pending, self.pending_samples = [], 0
        whole = len(data) // self.window * self.window
        if whole:
            windows = data[:whole].reshape(-1, self.window)
            self.peaks.extend(np.abs(windows).max(axis=1).tolist())
            self.powers.extend((windows.astype(np.float64) ** 2).mean(axis=1).tolist())
        self.carry = data[whole:]

    def finish(self) -> None:
        """The last partial window counts as a whole one."""
        self._flush()
        if len(self.carry):
            self.peaks.append(float(np.abs(self.carry).max()))
            self.powers.append(float((self.carry.astype(np.float64) ** 2).mean()))
            self.carry = self.carry[:0]

    def levels(self) -> list[float]:
        """dBFS of each LEVEL_INTERVAL, from the file's start (leading time before the first audio: silence)."""
        per = round(LEVEL_INTERVAL * LEVEL_RATE)
        powers = np.frombuffer(self.powers, dtype=np.float32)
        lead = round((self.start or 0.0) * LEVEL_RATE)
        powers = np.concatenate([np.zeros(max(0, lead), dtype=np.float32), powers])
        count = math.ceil(len(powers) / per)
        padded = np.zeros(count * per, dtype=np.float64)
        padded[: len(powers)] = powers
        mean = padded.reshape(-1, per).mean(axis=1)
        return [max(SILENCE_DB, 10 * math.log10(p)) if p > 0 else SILENCE_DB for p in mean.tolist()]

    def waveform(self, duration: float) -> np.ndarray:
        """An RGBA picture: for each column, a bar as tall as the loudest peak of its slice of time."""
        width, height = WAVEFORM_SIZE
        peaks = np.frombuffer(self.peaks, dtype=np.float32)
        lead = (self.start or 0.0) * LEVEL_RATE
        total = max(duration * LEVEL_RATE, lead + len(peaks), 1.0)
        edges = ((np.arange(width + 1) * total / width) - lead).round().astype(int).clip(0, len(peaks))
        image = np.zeros((height, width, 4), dtype=np.uint8)
        middle = height / 2
        for column in range(width):
            a, b = edges[column], max(edges[column] + 1, edges[column + 1])
            peak = float(peaks[a:b].max()) if a < len(peaks) else 0.0
            half = max(0.5, min(1.0, peak) * (middle - 1))
            top, bottom = math.floor(middle - half), math.ceil(middle + half)
            image[top:bottom, column] = WAVEFORM_RGBA
        return image


def speaking_spans(levels: list[float], *, interval: float = LEVEL_INTERVAL) -> list[tuple[float, float]]:
    """The spans (start, end) in seconds where the level track is at or above SPEAKING_DB, pauses up to
    SPEAKING_HANG joined, bursts shorter than SPEAKING_MIN dropped."""
    spans: list[tuple[float, float]] = []
    for i, level in enumerate(levels):
        if level < SPEAKING_DB:
            continue
        start, end = i * interval, (i + 1) * interval
        if spans and start - spans[-1][1] <= SPEAKING_HANG + 1e-9:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return [(a, b) for a, b in spans if b - a >= SPEAKING_MIN - 1e-9]


def _strip(images: list[np.ndarray]) -> np.ndarray:
    height = max(image.shape[0] for image in images)
    strip = np.zeros((height, sum(image.shape[1] for image in images), 3), dtype=np.uint8)
    x = 0
    for image in images:
        strip[: image.shape[0], x : x + image.shape[1]] = image
        x += image.shape[1]
    return strip


def media_previews(path: Path, directory: Path, *, duration: float | None) -> Previews:
    """Decode the file once and write `poster.png`, `thumbnails.png` (the strip, left to right) and
    `waveform.png` into `directory`, and compute the level track and the spans of speech.

    Times are from the first decoded frame of the file. A damaged tail ends the pass early; what was
    decoded up to there is used."""
    length = duration or 0.0
    times = thumbnail_times(length)
    poster = _Frames([poster_time(length)], POSTER_WIDTH)
    thumbs = _Frames(times, THUMB_WIDTH)
    audio: _Audio | None = None
    start: float | None = None
    with av.open(str(path), "r") as container:
        streams: list[av.VideoStream | av.AudioStream] = [*container.streams.video[:1], *container.streams.audio[:1]]
        if container.streams.audio:
            audio = _Audio()
        try:
            for frame in decodable_frames(container, streams):
                time = getattr(frame, "time", None)
                if start is None and time is not None:
                    start = time
                relative = (time or 0.0) - (start or 0.0)
                if isinstance(frame, av.VideoFrame):
                    poster.offer(frame, relative)
                    thumbs.offer(frame, relative)
                elif isinstance(frame, av.AudioFrame) and audio is not None:
                    audio.offer(frame, max(0.0, relative))
        except av.FFmpegError as exc:
            logger.info("Previews of %s stopped at a damaged tail: %s", path.name, exc)
    result = Previews()
    posters = poster.finish()
    if posters:
        result.poster = directory / "poster.png"
        result.poster.write_bytes(png_bytes(posters[0]))
    strip = thumbs.finish()
    if strip:
        result.thumbnails = directory / "thumbnails.png"
        result.thumbnails.write_bytes(png_bytes(_strip(strip)))
        result.thumbnail_times = times[: len(strip)]
        result.thumbnail_size = (strip[0].shape[1], strip[0].shape[0])
    if audio is not None:
        audio.finish()
        result.levels = audio.levels()
        result.speaking = speaking_spans(result.levels)
        result.waveform = directory / "waveform.png"
        result.waveform.write_bytes(png_bytes(audio.waveform(length)))
    return result
