"""Crash-safe files of one broadcaster: a video-only MP4 (H.264) or an audio-only M4A (AAC).

Written as fragmented MP4 (`empty_moov`, a fragment per keyframe or per second, flushed to disk): if the
process dies, everything up to the last complete fragment plays. Each file has its own encoder thread
fed through a bounded queue, so a slow disk or encoder never stalls the network side; frames are timed
by their arrival on the recorder's monotonic clock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import av.container
import numpy as np
from av.video.reformatter import VideoReformatter

from recording.media.mixer import RATE

logger = logging.getLogger(__name__)

VIDEO_FRAGMENT_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
AUDIO_FRAGMENT_OPTIONS = {
    "movflags": "empty_moov+default_base_moof",
    "frag_duration": "1000000",
    "flush_packets": "1",
}
MS = Fraction(1, 1000)
QUEUE_LIMIT = 256
MAX_GAP_FILL_SECONDS = 600
_STOP = object()


def x264_options(*, preset: str, fps: int) -> dict[str, str]:
    """Low-latency H.264: no B-frames (simple timestamps for FLV), a keyframe every two seconds (fragments,
    RTMP reconnects), two threads at most (the machine also serves the call)."""
    return {"preset": preset, "tune": "zerolatency", "g": str(2 * fps), "threads": "2"}


class TrackFile:
    """`put` from any thread; `close` flushes and finishes the file (still fragmented: see finishing)."""

    def __init__(self, path: Path, kind: str, *, fps: int, preset: str, bit_rate: int) -> None:
        if kind not in ("video", "audio"):
            raise ValueError(kind)
        self.path, self.kind = path, kind
        self._fps, self._preset, self._bit_rate = fps, preset, bit_rate
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_LIMIT)
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | av.AudioStream | None = None
        self._t0: float | None = None
        self._last_pts = -1
        self._samples = 0
        self._scaler = VideoReformatter()  # never the frame's own: see compositor.py
        self.dropped = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"trackfile-{kind}-{path.stem[:8]}", daemon=True)
        self._thread.start()

    def put(self, item: av.VideoFrame | np.ndarray, at: float | None = None) -> None:
        """A decoded video frame, or mono 48 kHz int16 samples; `at` is its arrival (time.monotonic())."""
        try:
            self._queue.put_nowait((item, time.monotonic() if at is None else at))
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 1000 == 0:
                logger.warning("TrackFile(%s) is behind: %d items dropped", self.path.name, self.dropped)

    def close(self, timeout: float = 30) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("TrackFile(%s) did not finish within %.0f s", self.path.name, timeout)

    # --- encoder thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                media, at = cast(tuple[Any, float], item)
                if self.kind == "video":
                    self._video(media, at)
                else:
                    self._audio(media, at)
            self._finish()
        except Exception as exc:
            self.error = f"{exc.__class__.__name__}: {exc}"
            logger.exception("TrackFile(%s) failed", self.path.name)
            self._abandon()

    def _open(self) -> av.container.OutputContainer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = VIDEO_FRAGMENT_OPTIONS if self.kind == "video" else AUDIO_FRAGMENT_OPTIONS
        return av.open(str(self.path), "w", format="mp4", options=dict(options))

    def _video(self, frame: av.VideoFrame, at: float) -> None:
        if self._container is None:
            self._container = self._open()
            stream = self._container.add_stream(
                "libx264", rate=self._fps, options=x264_options(preset=self._preset, fps=self._fps)
            )
            stream.width, stream.height = frame.width // 2 * 2, frame.height // 2 * 2
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = self._bit_rate
            stream.codec_context.time_base = MS
            self._stream = stream
            self._t0 = at
        assert self._stream is not None and self._t0 is not None and isinstance(self._stream, av.VideoStream)
        pts = max(round((at - self._t0) * 1000), self._last_pts + 1)
        self._last_pts = pts
        image = self._scaler.reformat(frame, width=self._stream.width, height=self._stream.height, format="yuv420p")
        image.pts, image.time_base = pts, MS
        self._container.mux(self._stream.encode(image))

    def _audio(self, samples: np.ndarray, at: float) -> None:
        if self._container is None:
            self._container = self._open()
            stream = self._container.add_stream("aac", rate=RATE)
            stream.layout = "mono"
            stream.bit_rate = self._bit_rate
            self._stream = stream
            self._t0 = at - samples.size / RATE
        assert self._stream is not None and self._t0 is not None
        # A gap in arrivals (packet loss, a rejoin) becomes silence, so the file keeps wall-clock time.
        expected = int((at - self._t0) * RATE) - samples.size
        gap = min(expected - self._samples, MAX_GAP_FILL_SECONDS * RATE)
        if gap > 0.2 * RATE:
            self._encode_samples(np.zeros(gap, dtype=np.int16))
        self._encode_samples(samples)

    def _encode_samples(self, samples: np.ndarray) -> None:
        assert self._container is not None and self._stream is not None
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts, frame.time_base = self._samples, Fraction(1, RATE)
        self._samples += samples.size
        assert isinstance(self._stream, av.AudioStream)
        self._container.mux(self._stream.encode(frame))

    def _finish(self) -> None:
        if self._container is None:
            return
        assert self._stream is not None
        self._container.mux(self._stream.encode(None))
        self._container.close()
        self._container = None
        logger.info("TrackFile(%s) closed", self.path.name)

    def _abandon(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:
                logger.exception("TrackFile(%s) close after failure", self.path.name)
        # Keep draining so that producers never block on a dead writer.
        while True:
            try:
                if self._queue.get(timeout=60) is _STOP:
                    return
            except queue.Empty:
                return

    @property
    def started(self) -> bool:
        return self._t0 is not None
