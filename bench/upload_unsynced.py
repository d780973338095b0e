"""netcall with the staging file's fsync removed, for the upload benchmark only (`bench.upload --unsynced`):
served by the same uvicorn (`python -m netcall_site.serve --app bench.upload_unsynced:application`).

Everything else is netcall as `make run` serves it; only Python's `os.fsync` does nothing in this process,
and the one caller is the fsync that ends each PATCH (recording/uploads/services.py; SQLite's own syncs are
in C and stay). What it measures is the most that deferring that fsync (answering a PATCH before its bytes
are durable, syncing later or at completion) could gain. Not durable: never serve anything with it.
"""

from __future__ import annotations

import os
from typing import Any


def _no_fsync(fd: Any) -> None:
    """Bytes stay in the page cache until the kernel writes them back on its own."""


os.fsync = _no_fsync

from netcall_site.asgi import application  # noqa: E402

__all__ = ["application"]
