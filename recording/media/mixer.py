"""The live mix: every broadcaster's voice, mono 48 kHz, summed with clipping.

Each voice arrives in 20 ms frames with network jitter; it waits in a short buffer and the encoder
thread pulls exactly the samples its clock asks for. A voice that runs dry contributes silence (no
drift); one that runs ahead is trimmed to `MAX_BUFFER_SECONDS` (bounded latency).

A chunk pushed with its sender time (the sender's clock, from RTCP sender reports: encoded.py) lets the
mixer say, at each pull, how late that voice plays: `playout_offset(account)` = the encoder's clock now
minus the sender time of the sample it mixes now. The compositor shows the same member's video frames
that much after their own sender times, so picture and voice leave the composite as they left the
sender (lip sync: compositor.py).
"""

from __future__ import annotations

import threading
from collections import deque

import av
import numpy as np

RATE = 48000
MAX_BUFFER_SECONDS = 0.3
START_BUFFER_SECONDS = 0.06  # jitter allowance before a new voice is played


def to_mono_s16(resampler: av.AudioResampler, frame: av.AudioFrame) -> np.ndarray:
    """One decoded frame as mono 48 kHz int16 samples."""
    frame.pts = None  # the resampler needs no timestamps; the recorder times frames by arrival
    chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def new_resampler() -> av.AudioResampler:
    return av.AudioResampler(format="s16", layout="mono", rate=RATE)


class _Voice:
    def __init__(self) -> None:
        self.chunks: deque[np.ndarray] = deque()
        self.times: deque[float | None] = deque()  # the sender time of each chunk's first sample
        self.buffered = 0
        self.started = False
        self.playout_offset: float | None = None


class AudioMixer:
    """Thread-safe: `push` from the asyncio side, `pull` from the encoder thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._voices: dict[str, _Voice] = {}
        self._muted: set[str] = set()

    def push(self, account: str, samples: np.ndarray, sender_time: float | None = None) -> None:
        if not samples.size:
            return
        with self._lock:
            voice = self._voices.setdefault(account, _Voice())
            voice.chunks.append(samples)
            voice.times.append(sender_time)
            voice.buffered += samples.size
            limit = int(MAX_BUFFER_SECONDS * RATE)
            while voice.buffered > limit and voice.chunks:
                dropped = voice.chunks.popleft()
                voice.times.popleft()
                voice.buffered -= dropped.size

    def playout_offset(self, account: str) -> float | None:
        """Encoder clock (time.monotonic()) minus sender time of what this voice plays now; None if unknown."""
        with self._lock:
            voice = self._voices.get(account)
            return voice.playout_offset if voice is not None else None  # the last known, while it refills

    def set_muted(self, account: str, muted: bool) -> None:
        with self._lock:
            (self._muted.add if muted else self._muted.discard)(account)

    def forget(self, account: str) -> None:
        with self._lock:
            self._voices.pop(account, None)

    def pull(self, count: int, now: float | None = None) -> np.ndarray:
        """`count` samples of the mix; `now` is the encoder clock of their first (time.monotonic())."""
        mix = np.zeros(count, dtype=np.int32)
        with self._lock:
            for account, voice in self._voices.items():
                if not voice.started:
                    if voice.buffered < START_BUFFER_SECONDS * RATE:
                        continue
                    voice.started = True
                if now is not None and voice.times and voice.times[0] is not None:
                    voice.playout_offset = now - voice.times[0]
                taken = self._take(voice, count)
                if account not in self._muted:
                    mix[: taken.size] += taken
        return np.clip(mix, -32768, 32767).astype(np.int16)

    @staticmethod
    def _take(voice: _Voice, count: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        needed = count
        while needed and voice.chunks:
            chunk = voice.chunks[0]
            if chunk.size <= needed:
                parts.append(voice.chunks.popleft())
                voice.times.popleft()
                needed -= chunk.size
            else:
                parts.append(chunk[:needed])
                voice.chunks[0] = chunk[needed:]
                start = voice.times[0]
                voice.times[0] = None if start is None else start + needed / RATE
                needed = 0
        taken = count - needed
        voice.buffered -= taken
        if needed:
            voice.started = False  # ran dry: wait for a little buffer again
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
