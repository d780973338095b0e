"""The live picture: each broadcaster's latest frame, scaled into its tile of one YUV 4:2:0 canvas.

Lip sync: a frame given with its sender time (RTCP sender reports, encoded.py) waits until the same
member's voice plays that instant in the mix (`playout_offset`, mixer.py: the mix is late by its jitter
buffers), so both leave the composite, its recording and the RTMP push as they left the sender. A frame
without one (no sender report yet, no voice) shows at once, as does one that is already late.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from recording.media.layout import Rect, layout_tiles

logger = logging.getLogger(__name__)

BLACK_Y, BLACK_UV = 16, 128
MAX_WAITING = 45  # frames held for lip sync (3 s at 15 fps); past that the oldest shows at once
PlayoutOffset = Callable[[str], float | None]


@dataclass
class _Source:
    frame: av.VideoFrame | None = None
    version: int = 0
    visible: bool = True
    # Its own scaler: a frame is also being encoded by another thread (its member file), and two threads
    # must never share one swscale context (PyAV caches one per frame: that deadlocks).
    reformatter: VideoReformatter | None = None
    waiting: deque[tuple[float, av.VideoFrame]] = field(default_factory=deque)  # (sender time, frame)


@dataclass
class _Scaled:
    version: int
    rect: Rect
    planes: tuple[np.ndarray, np.ndarray, np.ndarray, int, int]  # y, u, v, x offset, y offset in tile


class Compositor:
    """Thread-safe: the asyncio side calls `set_frame`/`set_layout`, the encoder thread calls `render`."""

    def __init__(self, width: int, height: int, *, playout_offset: PlayoutOffset | None = None) -> None:
        self.width, self.height = width // 2 * 2, height // 2 * 2
        self._playout_offset = playout_offset
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self._tiles: dict[str, Rect] = {}
        self._scaled: dict[str, _Scaled] = {}

    def set_layout(self, host: str | None, cohosts: list[str]) -> None:
        tiles = layout_tiles(self.width, self.height, host, cohosts)
        with self._lock:
            if tiles != self._tiles:
                logger.info("Compositor layout: %s", {a: (r.x, r.y, r.width, r.height) for a, r in tiles.items()})
            self._tiles = tiles

    def set_frame(self, account: str, frame: av.VideoFrame, sender_time: float | None = None) -> None:
        with self._lock:
            source = self._sources.setdefault(account, _Source())
            if sender_time is not None and self._playout_offset is not None:
                source.waiting.append((sender_time, frame))
                while len(source.waiting) > MAX_WAITING:
                    source.frame = source.waiting.popleft()[1]
                    source.version += 1
                return
            source.waiting.clear()
            source.frame = frame
            source.version += 1

    def _release(self, now: float) -> None:
        """Under the lock: the frames whose instant the mix plays now become the shown ones."""
        assert self._playout_offset is not None
        for account, source in self._sources.items():
            if not source.waiting:
                continue
            offset = self._playout_offset(account)
            while source.waiting and (offset is None or source.waiting[0][0] + offset <= now):
                source.frame = source.waiting.popleft()[1]
                source.version += 1

    def set_visible(self, account: str, visible: bool) -> None:
        """A broadcaster who turned the camera off shows as a black tile, not a frozen picture."""
        with self._lock:
            self._sources.setdefault(account, _Source()).visible = visible

    def forget(self, account: str) -> None:
        with self._lock:
            self._sources.pop(account, None)
            self._scaled.pop(account, None)

    def render(self, now: float | None = None) -> av.VideoFrame:
        """The picture at `now` (the encoder's clock, time.monotonic())."""
        with self._lock:
            if self._playout_offset is not None:
                self._release(time.monotonic() if now is None else now)
            tiles = dict(self._tiles)
            sources = {a: (s.frame, s.version, s.visible) for a, s in self._sources.items()}
            scalers = {a: s.reformatter for a, s in self._sources.items()}
        canvas = np.empty((self.height * 3 // 2, self.width), dtype=np.uint8)
        canvas[: self.height] = BLACK_Y
        canvas[self.height :] = BLACK_UV
        y_plane = canvas[: self.height]
        chroma = canvas[self.height :].reshape(2, self.height // 2, self.width // 2)
        for account, rect in tiles.items():
            frame, version, visible = sources.get(account, (None, 0, True))
            if frame is None or not visible:
                continue
            scaler = scalers.get(account) or VideoReformatter()
            with self._lock:
                if account in self._sources:
                    self._sources[account].reformatter = scaler
            scaled = self._scale(account, frame, version, rect, scaler)
            y, u, v, dx, dy = scaled.planes
            x0, y0 = rect.x + dx, rect.y + dy
            y_plane[y0 : y0 + y.shape[0], x0 : x0 + y.shape[1]] = y
            cx, cy = x0 // 2, y0 // 2
            chroma[0, cy : cy + u.shape[0], cx : cx + u.shape[1]] = u
            chroma[1, cy : cy + v.shape[0], cx : cx + v.shape[1]] = v
        return av.VideoFrame.from_ndarray(canvas, format="yuv420p")

    def _scale(self, account: str, frame: av.VideoFrame, version: int, rect: Rect, scaler: VideoReformatter) -> _Scaled:
        cached = self._scaled.get(account)
        if cached is not None and cached.version == version and cached.rect == rect:
            return cached
        # Fit inside the tile, keeping the aspect ratio (letterbox / pillarbox in black).
        scale = min(rect.width / frame.width, rect.height / frame.height)
        width = max(2, int(frame.width * scale) // 2 * 2)
        height = max(2, int(frame.height * scale) // 2 * 2)
        image = scaler.reformat(frame, width=width, height=height, format="yuv420p").to_ndarray()
        y = image[:height]
        chroma = image[height:].reshape(2, height // 2, width // 2)
        dx, dy = (rect.width - width) // 2 // 2 * 2, (rect.height - height) // 2 // 2 * 2
        scaled = _Scaled(version, rect, (y, chroma[0], chroma[1], dx, dy))
        self._scaled[account] = scaled
        return scaled
