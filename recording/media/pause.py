"""Pausing a live session's recording (the host's `pauseLiveRecord()`), not its push.

`PauseGate` sits between the composite encoder and its spool file: while paused it drops the packets
meant for the file; on resume it lets them through again from the next video keyframe (the encoder is
asked for one), every timestamp shifted back by the paused span, so the file has no gap and plays the
time recorded. `PauseClock` does the same for the member files, which take decoded media with arrival
times: while paused nothing is written, and arrival times afterwards are moved back by the time paused.
"""

from __future__ import annotations

import threading
import time

import av


class PauseClock:
    """Paused time, for the member files: `shift(at)` is `at` without the time spent paused so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None
        self._total = 0.0

    def set_paused(self, paused: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if paused and self._since is None:
                self._since = now
            elif not paused and self._since is not None:
                self._total += now - self._since
                self._since = None

    @property
    def paused(self) -> bool:
        return self._since is not None

    def shift(self, at: float) -> float:
        return at - self._total


class PauseGate:
    """Which packets of the encoder go into the recording, with which timestamps (see the module doc)."""

    def __init__(self) -> None:
        self.paused = False
        self.wants_keyframe = False  # the encoder should make the next video frame a keyframe
        self._dropping: dict[str, int | None] = {}  # kind -> pts of the first packet dropped
        self._offset: dict[str, int] = {}  # kind -> ticks (the stream's time base) taken out so far

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if not paused:
            self.wants_keyframe = True

    def admit(self, packet: av.Packet, kind: str) -> bool:
        """Whether `packet` goes into the file; if so its pts/dts are shifted in place."""
        pts = packet.pts
        if pts is None:
            return not self.paused
        resuming = kind in self._dropping and not self.paused
        if resuming and kind == "video" and not packet.is_keyframe:
            resuming = False  # a delta frame after the pause has no reference in the file: wait for the keyframe
        if self.paused or (kind in self._dropping and not resuming):
            self._dropping.setdefault(kind, pts)
            return False
        if resuming:
            first = self._dropping.pop(kind)
            assert first is not None
            self._offset[kind] = self._offset.get(kind, 0) + max(0, pts - first)
        offset = self._offset.get(kind, 0)
        if offset:
            packet.pts = pts - offset
            if packet.dts is not None:
                packet.dts = packet.dts - offset
        return True
