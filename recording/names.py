"""Validation of the names users choose: accounts and channels."""

from __future__ import annotations

import hashlib
import unicodedata

MAX_NAME_LENGTH = 64
# Names end up in logs, group names, file metadata and other people's screens: no path separators, no
# control characters (C0, DEL, C1), no format characters (bidi overrides such as U+202E, zero-width
# characters), no line or paragraph separators, no lone surrogates.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_REFUSED_CHARACTERS = frozenset("/\\")


def _refused(character: str) -> bool:
    return character in _REFUSED_CHARACTERS or unicodedata.category(character) in _REFUSED_CATEGORIES


def is_valid_name(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_NAME_LENGTH
        and not any(_refused(c) for c in value)
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
