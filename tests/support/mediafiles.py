"""Small real media files for server-side tests, written with PyAV (VP8 + Opus WebM, H.264 + AAC MP4)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from recording.testing.sync import SYNC_BEEP_SECONDS, SYNC_FLASH_FRAMES, SYNC_PERIOD

AUDIO_FRAME = 960  # samples: 20 ms at 48 kHz


def write_test_media(
    path: Path,
    *,
    seconds: float = 2.0,
    container: str = "webm",
    tone_hz: float = 440.0,
    rgb: tuple[int, int, int] = (255, 0, 0),
    fps: int = 15,
    size: tuple[int, int] = (160, 120),
    fragmented: bool = False,
    silent: tuple[tuple[float, float], ...] = (),
    audio: bool = True,
    video: bool = True,
) -> Path:
    """A file with one solid-colour video stream and one sine-tone audio stream (silent in the
    `silent` spans of seconds); `audio`/`video` False leaves that stream out."""
    video_codec, audio_codec = ("libvpx", "libopus") if container == "webm" else ("libx264", "aac")
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if fragmented else {}
    with av.open(str(path), "w", format=container, options=options) as out:
        # every stream is added before the first packet is muxed (that writes the header)
        video_stream: Any = out.add_stream(video_codec, rate=fps) if video else None
        if video_stream is not None:
            video_stream.width, video_stream.height = size
            video_stream.pix_fmt = "yuv420p"
            video_stream.options = {"g": str(fps)}  # a keyframe a second: seekable; a cut file decodes to the cut
        sound_stream: Any = out.add_stream(audio_codec, rate=48000) if audio else None
        if sound_stream is not None:
            sound_stream.layout = "mono"
        if video_stream is not None:
            image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            image[:, :] = rgb
            _write_video(out, video_stream, itertools.repeat(image, int(seconds * fps)), fps=fps)
        if sound_stream is None:
            return path
        total = -(-int(seconds * 48000) // AUDIO_FRAME) * AUDIO_FRAME  # whole frames, the last one past the end
        t = (np.arange(total) / 48000.0).astype(np.float32)
        pcm = (0.4 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
        for a, b in silent:
            pcm[(t >= a) & (t < b)] = 0.0
        _write_audio(out, sound_stream, pcm)
    return path


def write_sync_media(
    path: Path, *, seconds: float = 6.0, offset_ms: int = 0, tone_hz: float = 1000.0, fps: int = 15
) -> Path:
    """A WebM of a sync source (recording.testing.sync): a white flash every 2 s over grey and a beep of
    `tone_hz` `offset_ms` after each flash (negative: before), VP8 + Opus."""
    size = (160, 120)
    with av.open(str(path), "w", format="webm") as out:
        video: Any = out.add_stream("libvpx", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"g": str(fps)}
        audio: Any = out.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        period = int(SYNC_PERIOD * fps)
        images = (
            np.full((size[1], size[0], 3), 255 if i % period < SYNC_FLASH_FRAMES else 110, dtype=np.uint8)
            for i in range(int(seconds * fps))
        )
        _write_video(out, video, images, fps=fps)
        t = np.arange(int(seconds * 48000)) / 48000.0
        phase = np.mod(t - offset_ms / 1000, SYNC_PERIOD)
        pcm = np.where(phase < SYNC_BEEP_SECONDS, 0.4 * np.sin(2 * np.pi * tone_hz * t), 0.0).astype(np.float32)
        _write_audio(out, audio, pcm)
    return path


def _write_video(out: Any, video: Any, images: Iterable[np.ndarray], *, fps: int) -> None:
    """RGB images, one a frame at `fps`, then the encoder's tail."""
    for i, image in enumerate(images):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        frame.time_base = Fraction(1, fps)
        out.mux(video.encode(frame))
    out.mux(video.encode(None))


def _write_audio(out: Any, audio: Any, pcm: np.ndarray) -> None:
    """Mono float samples at 48 kHz in 20 ms frames (a partial last frame is left out), then the encoder's tail."""
    for start in range(0, len(pcm) - AUDIO_FRAME + 1, AUDIO_FRAME):
        sound = av.AudioFrame.from_ndarray(pcm[start : start + AUDIO_FRAME].reshape(1, -1), format="flt", layout="mono")
        sound.sample_rate = 48000
        sound.pts = start
        sound.time_base = Fraction(1, 48000)
        out.mux(audio.encode(sound))
    out.mux(audio.encode(None))
