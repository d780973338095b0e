"""Validation of the names users choose: accounts and channels."""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 64
# No control characters, no path separators: names end up in logs, group names and file metadata.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f/\\]")


def is_valid_name(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_NAME_LENGTH
        and not _FORBIDDEN.search(value)
        and value.strip() == value
    )


# Accounts that start with this are server participants (the live recorder is `#recorder`): no token can
# name one, so no client can impersonate or displace them.
RESERVED_PREFIX = "#"


def is_valid_account(value: object) -> bool:
    """A name a user may hold: a valid name that is not reserved for server participants."""
    return is_valid_name(value) and not str(value).startswith(RESERVED_PREFIX)


def is_server_account(account: str) -> bool:
    return account.startswith(RESERVED_PREFIX)


def room_group_name(channel: str) -> str:
    """Channel-layer group of a room. Groups allow only ASCII, so hash the user's channel name."""
    digest = hashlib.sha256(channel.encode()).hexdigest()[:40]
    return f"room.{digest}"
