"""Fake camera and microphone input for browser tests.

Each participant's Chromium process reads its microphone from a WAV sine tone and its camera
from a Y4M file of one solid colour, so a receiver can tell by content whose media it gets.
A sync source (`media="sync"`) instead beeps its tone and flashes white at the same instants every
2 s (or with `sync_offset_ms` between them, to make a known A/V skew), over its colour. The files are
generated here, never committed.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fakefiles import MediaFiles, write_wav, write_y4m
from .sync import write_sync_wav, write_sync_y4m

RGB = tuple[int, int, int]
COLOURS: dict[str, RGB] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "grey": (128, 128, 128),
    "black": (0, 0, 0),
}

AUDIO_RATE = 48_000
AUDIO_SECONDS = 3
VIDEO_WIDTH = 320
VIDEO_HEIGHT = 240
VIDEO_FPS = 15
VIDEO_SECONDS = 2


def colour_rgb(colour: str | RGB) -> RGB:
    """`"red"` or `(255, 0, 0)` as an RGB triple."""
    if isinstance(colour, str):
        try:
            return COLOURS[colour]
        except KeyError:
            raise ValueError(f"unknown colour {colour!r}; use one of {sorted(COLOURS)} or an (r, g, b)") from None
    r, g, b = colour
    return (int(r), int(g), int(b))


@dataclass(frozen=True)
class Participant:
    """Who joins, and what their fake microphone and camera send."""

    account: str
    tone_hz: int
    rgb: RGB
    # "tone": a steady tone and colour; "sync": beeps and flashes every 2 s; "timecode": the same with each
    # frame's index and each period's identity coded in (timecode.py: drift beyond a period is measurable)
    media: str = "tone"
    sync_offset_ms: int = 0  # sync source only: the beeps come this long after the flashes

    def __post_init__(self) -> None:
        if self.media not in ("tone", "sync", "timecode"):
            raise ValueError(f"media must be 'tone', 'sync' or 'timecode', not {self.media!r}")

    def with_account(self, account: str) -> Participant:
        """The same media under another account (e.g. a second page in the same browser)."""
        return dataclasses.replace(self, account=account)

    @property
    def media_key(self) -> tuple[object, ...]:
        """Participants with equal keys can share one Chromium process (same fake devices)."""
        return (self.media, self.tone_hz, self.rgb, self.sync_offset_ms)


RED: RGB = (255, 0, 0)
GREEN: RGB = (0, 255, 0)
BLUE: RGB = (0, 0, 255)

ALICE = Participant("alice", 440, RED)
BOB = Participant("bob", 660, GREEN)
CAROL = Participant("carol", 880, BLUE)
# Flashes white and beeps at 1 kHz together every 2 s (sync.py): for lip-sync measurements.
SYNCER = Participant("syncer", 1000, (255, 255, 255), media="timecode")


def write_tone_wav(path: Path, tone_hz: int, *, seconds: int = AUDIO_SECONDS) -> Path:
    """A mono 16-bit sine tone; a whole number of seconds at an integer frequency loops seamlessly."""
    t = np.arange(AUDIO_RATE * seconds, dtype=np.float64) / AUDIO_RATE
    return write_wav(path, 0.5 * np.sin(2 * np.pi * tone_hz * t), rate=AUDIO_RATE)


def rgb_to_ycbcr(rgb: RGB) -> tuple[int, int, int]:
    """Full-range BT.601 (JFIF) conversion, matching the Y4M colour space tag C420jpeg."""
    r, g, b = (float(c) for c in rgb)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(int(np.clip(round(v), 0, 255)) for v in (y, cb, cr))  # type: ignore[return-value]


def write_solid_y4m(
    path: Path,
    rgb: RGB,
    *,
    width: int = VIDEO_WIDTH,
    height: int = VIDEO_HEIGHT,
    fps: int = VIDEO_FPS,
    seconds: int = VIDEO_SECONDS,
) -> Path:
    """A YUV4MPEG2 4:2:0 file whose every frame is one solid colour."""
    y, cb, cr = rgb_to_ycbcr(rgb)
    frame = b"".join(
        (
            np.full((height, width), y, dtype=np.uint8).tobytes(),
            np.full((height // 2, width // 2), cb, dtype=np.uint8).tobytes(),
            np.full((height // 2, width // 2), cr, dtype=np.uint8).tobytes(),
        )
    )
    return write_y4m(path, itertools.repeat(frame, fps * seconds), width=width, height=height, fps=fps)


def media_files_for(participant: Participant, directory: Path) -> MediaFiles:
    """Write (or reuse) the WAV and Y4M files for a participant's tone and colour (or sync source)."""
    if participant.media == "timecode":
        from .timecode import sync_media  # timecode.py builds on this module

        return sync_media(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if participant.media == "sync":
        stem = "sync{}_{}ms_rgb{}-{}-{}".format(participant.tone_hz, participant.sync_offset_ms, *participant.rgb)
        wav, y4m = directory / f"{stem}.wav", directory / f"{stem}.y4m"
        if not wav.exists():
            write_sync_wav(wav, participant.tone_hz, offset_ms=participant.sync_offset_ms)
        if not y4m.exists():
            write_sync_y4m(y4m, rgb_to_ycbcr(participant.rgb))
        return MediaFiles(wav=wav, y4m=y4m)
    stem = "tone{}_rgb{}-{}-{}".format(participant.tone_hz, *participant.rgb)
    wav = directory / f"{stem}.wav"
    y4m = directory / f"{stem}.y4m"
    if not wav.exists():
        write_tone_wav(wav, participant.tone_hz)
    if not y4m.exists():
        write_solid_y4m(y4m, participant.rgb)
    return MediaFiles(wav=wav, y4m=y4m)
