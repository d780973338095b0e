"""A per-connection token bucket, so one noisy socket cannot flood a room."""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, rate: float, *, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else rate
        self._tokens = self.capacity
        self._last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
