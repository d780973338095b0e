"""The embedded default's signing key: random, made once per install, kept in a file under var/.

`make run`, every management command and every test server of one checkout read the same file, so a
token minted by `manage.py netcall_token` is accepted by the running server. A deployment sets
NETCALL_SECRET_KEY instead (every machine must sign alike); `manage.py check --deploy` says so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def secret_from_file(path: Path) -> str | None:
    """The key kept at `path`, made now if there is none; None when the file can be neither read nor made."""
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    except OSError:
        return None
    if existing:
        return existing
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: a second process starting at the same moment either wins
        # the link or reads the complete file, never a half-written one.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink()
        return path.read_text(encoding="ascii").strip() or None
    except OSError:
        return None
