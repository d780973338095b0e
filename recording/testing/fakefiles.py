"""The fake-capture files of one participant (what Chromium's fake camera and microphone play), and the
two writers every fake source uses: a mono 16-bit WAV and a 4:2:0 YUV4MPEG2 file."""

from __future__ import annotations

import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class MediaFiles:
    wav: Path
    y4m: Path


def write_wav(path: Path, samples: np.ndarray, *, rate: int) -> Path:
    """`samples` (floats within ±1) as a mono 16-bit WAV."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def write_y4m(path: Path, frames: Iterable[bytes], *, width: int, height: int, fps: int) -> Path:
    """A YUV4MPEG2 file of `frames`, each its Y, Cb and Cr planes (4:2:0, full range: C420jpeg)."""
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            out.write(b"FRAME\n" + frame)
    return path
