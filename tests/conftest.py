"""Fixtures shared by the tests: the live tests' (tests/support/live/broadcast.py, registered by importing
them here) and the test database's clean start."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.support.live.broadcast import live_dirs, receiver, rtmp_listener

__all__ = ["django_db_modify_db_settings", "live_dirs", "receiver", "rtmp_listener"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Django makes the SQLite test database afresh by removing its file, not the WAL and shared-memory
    files beside it (the embedded default runs in WAL mode, netcall_site/settings.py). A run that was
    killed leaves them behind, and SQLite would replay that WAL into the new file: they go first."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    name = database.get("TEST", {}).get("NAME")
    if name and name != ":memory:" and not str(name).startswith("file:"):
        for suffix in ("-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)
