"""Django admin, one module per concern (live sessions and callbacks: recording/live/admin.py)."""

from recording.admin import jobs, library, rooms
from recording.live import admin as live

__all__ = ["jobs", "library", "live", "rooms"]
