"""Fixtures shared by the tests: the live tests' (tests/support/live/broadcast.py, registered by importing
them here) and the test database's clean start and end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.live.broadcast import live_dirs, receiver, rtmp_listener

__all__ = ["django_db_modify_db_settings", "live_dirs", "receiver", "rtmp_listener"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> Iterator[None]:
    """Django makes the SQLite test database afresh by removing its file, and removes it at the end, but not
    the WAL and shared-memory files beside it (the embedded default runs in WAL mode, netcall_site/settings.py):
    a connection still open in some thread at the end leaves them, and SQLite would replay that WAL into the
    next run's new file. They go before the database is made and after it is destroyed."""
    sidecars = _sqlite_sidecars()
    for path in sidecars:
        path.unlink(missing_ok=True)
    yield
    for path in sidecars:
        path.unlink(missing_ok=True)


def _sqlite_sidecars() -> list[Path]:
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return []
    name = database.get("TEST", {}).get("NAME")
    if not name or name == ":memory:" or str(name).startswith("file:"):
        return []
    return [Path(f"{name}{suffix}") for suffix in ("-wal", "-shm")]
