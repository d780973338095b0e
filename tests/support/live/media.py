"""Media for the live tests: synthetic aiortc tracks (a colour and a tone per person) and analysis of
what the recorder produced (which colours a picture holds, which tones a soundtrack holds)."""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack

from recording.media.bitstream import frame_info
from recording.media.encoded import EncodedFrame

VIDEO_CLOCK = 90000
RATE = 48000


class ColourTrack(MediaStreamTrack):
    """A solid colour, 320x240 at 15 fps (keep the machine's two cores for the recorder)."""

    kind = "video"

    def __init__(self, rgb: tuple[int, int, int], fps: int = 15, size: tuple[int, int] = (320, 240)) -> None:
        super().__init__()
        image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        image[:] = rgb
        self._frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        self._fps = fps
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._index / self._fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = self._frame.reformat()  # a fresh frame object each time
        frame.pts = int(self._index * VIDEO_CLOCK / self._fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._index += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """A sine tone, 20 ms frames of mono 48 kHz."""

    kind = "audio"

    def __init__(self, hz: float, amplitude: float = 0.3) -> None:
        super().__init__()
        self._hz, self._amplitude = hz, amplitude
        self._start: float | None = None
        self._samples = 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        count = RATE // 50
        due = self._start + self._samples / RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = np.arange(self._samples, self._samples + count) / RATE
        pcm = (np.sin(2 * np.pi * self._hz * t) * self._amplitude * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, RATE)
        self._samples += count
        return frame


@dataclass
class Decoded:
    video_frames: list[np.ndarray]  # rgb24 images, a few sampled
    video_count: int
    video_duration: float | None
    audio: np.ndarray  # mono float samples at 48 kHz
    audio_duration: float | None
    codecs: dict[str, str]


def decode(path: Path, *, keep_every: int = 5) -> Decoded:
    images: list[np.ndarray] = []
    pcm: list[np.ndarray] = []
    codecs: dict[str, str] = {}
    video_times: list[float] = []
    audio_end: float | None = None
    audio_start: float | None = None
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    with av.open(str(path)) as container:
        for stream in container.streams:
            codecs[stream.type] = stream.codec_context.name
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        for packet in container.demux(streams):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    if len(video_times) % keep_every == 0:
                        images.append(frame.to_ndarray(format="rgb24"))
                    video_times.append(frame.time or 0.0)
                elif isinstance(frame, av.AudioFrame):
                    if frame.time is not None:
                        audio_start = frame.time if audio_start is None else audio_start
                        audio_end = frame.time + frame.samples / frame.sample_rate
                    frame.pts = None
                    for out in resampler.resample(frame):
                        pcm.append(out.to_ndarray().reshape(-1))
    video_duration = (max(video_times) - min(video_times)) if len(video_times) > 1 else None
    audio_duration = None if audio_end is None or audio_start is None else audio_end - audio_start
    return Decoded(
        video_frames=images,
        video_count=len(video_times),
        video_duration=video_duration,
        audio=np.concatenate(pcm) if pcm else np.zeros(0, dtype=np.float32),
        audio_duration=audio_duration,
        codecs=codecs,
    )


def tone_peaks(samples: np.ndarray, *, threshold: float = 0.2) -> set[int]:
    """Frequencies (Hz, rounded to 10) whose magnitude is at least `threshold` of the strongest."""
    if samples.size < RATE // 2:
        return set()
    middle = samples[samples.size // 4 : samples.size * 3 // 4]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    freqs = np.fft.rfftfreq(middle.size, 1 / RATE)
    strongest = spectrum.max()
    peaks = set()
    for index in np.nonzero(spectrum >= threshold * strongest)[0]:
        if 50 < freqs[index] < 4000:
            peaks.add(int(round(freqs[index] / 10) * 10))
    return peaks


def has_tone(samples: np.ndarray, hz: int, *, threshold: float = 0.2) -> bool:
    return any(abs(peak - hz) <= 10 for peak in tone_peaks(samples, threshold=threshold))


def colour_share(image: np.ndarray, rgb: tuple[int, int, int], *, tolerance: int = 40) -> float:
    """The share of pixels within `tolerance` (per channel) of a colour."""
    close = np.all(np.abs(image.astype(np.int16) - np.array(rgb, dtype=np.int16)) <= tolerance, axis=-1)
    return float(close.mean())


class EncodedSource:
    """A browser's encoded output without a browser: a colour as VP8 (or H.264) at 15 fps and a tone as
    Opus in 20 ms frames, timestamped in the RTP clocks, as `EncodedFrame`s for `LivePipeline.encoded_frame`."""

    def __init__(self, rgb: tuple[int, int, int], hz: float, *, codec: str = "vp8", size: tuple[int, int] = (320, 240)):
        self._info = frame_info
        self.codec = codec
        self._video = av.CodecContext.create("libvpx" if codec == "vp8" else "libx264", "w")
        self._video.width, self._video.height = size
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._video.framerate = fractions.Fraction(15)
        self._video.options = (
            {"deadline": "realtime", "g": "30"} if codec == "vp8" else {"tune": "zerolatency", "g": "30"}
        )
        image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        image[:] = rgb
        self._image = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        self._audio = av.CodecContext.create("libopus", "w")
        self._audio.sample_rate, self._audio.layout, self._audio.format = RATE, "mono", "s16"
        self._hz = hz
        self.frames = self.samples = 0

    def video(self, at: float | None = None) -> list[EncodedFrame]:
        """The next frame, captured `at` seconds after the start (by default: at 15 fps)."""
        frame = self._image.reformat()
        frame.pts = self.frames * VIDEO_CLOCK // 15 if at is None else int(at * VIDEO_CLOCK)
        self.frames += 1
        out = []
        for packet in self._video.encode(frame):
            data = bytes(packet)
            info = self._info(self.codec, data)
            out.append(
                EncodedFrame(
                    "video",
                    self.codec,
                    data,
                    int(packet.pts or 0),
                    VIDEO_CLOCK,
                    info.keyframe,
                    info.width,
                    info.height,
                    info.parameter_sets,
                    arrived=time.monotonic(),
                )
            )
        return out

    def audio(self) -> list[EncodedFrame]:
        t = np.arange(self.samples, self.samples + RATE // 50) / RATE
        pcm = (np.sin(2 * np.pi * self._hz * t) * 9000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = RATE, self.samples
        self.samples += RATE // 50
        return [
            EncodedFrame("audio", "opus", bytes(p), int(p.pts or 0), RATE, True, arrived=time.monotonic())
            for p in self._audio.encode(frame)
        ]
