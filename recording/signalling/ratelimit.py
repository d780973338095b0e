"""Per-connection limits: token buckets (frames or bytes per second), so one noisy socket cannot flood a
room, and a strike count that tells a socket which keeps hitting them from one that bursts now and then."""

from __future__ import annotations

import time
from collections import deque


class TokenBucket:
    def __init__(self, rate: float, *, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else rate
        self._tokens = self.capacity
        self._last = time.monotonic()

    def take(self, amount: float = 1) -> bool:
        """Take `amount` (a frame, or its bytes); False when the bucket does not hold that much. A rate of 0
        means no limit."""
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True


class Strikes:
    """Refusals of one connection: `add()` is True once `limit` of them fell within `window` seconds.
    A limit of 0 means never."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque(maxlen=max(limit, 1))

    def add(self) -> bool:
        if self.limit <= 0:
            return False
        now = time.monotonic()
        self._times.append(now)
        return len(self._times) == self.limit and now - self._times[0] <= self.window
