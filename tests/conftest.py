"""Fixtures shared by the live tests (tests/support/live/broadcast.py): importing them here registers them."""

from tests.support.live.broadcast import live_dirs, receiver, rtmp_listener

__all__ = ["live_dirs", "receiver", "rtmp_listener"]
