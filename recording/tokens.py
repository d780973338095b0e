"""Join tokens: signed, expiring, bound to one account and one channel, carrying grants."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from recording.errors import NetcallError
from recording.models import RevokedToken
from recording.names import is_valid_account, is_valid_name

TOKEN_SALT = "netcall.token"
GRANTS = ("publish", "record", "upload", "live")
# What a token carries when nobody asked for more: joining and sending media. Recording, uploading and
# hosting a broadcast are asked for explicitly.
DEFAULT_GRANTS = ("publish",)


class TokenError(NetcallError):
    """A token that cannot be used (missing, forged, expired, wrong channel or grant)."""

    status = 401


@dataclass(frozen=True)
class JoinToken:
    account: str
    channel: str
    grants: frozenset[str]
    expires_at: int
    id: str = ""  # what a revocation names; tokens minted before ids existed have none

    def allows(self, grant: str) -> bool:
        return grant in self.grants


def token_mint(
    *,
    account: str,
    channel: str,
    ttl: int | None = None,
    grants: Iterable[str] = DEFAULT_GRANTS,
    now: float | None = None,
) -> str:
    if not is_valid_account(account):
        raise ValueError("account must be 1-64 characters without control characters or slashes, not starting with #")
    if not is_valid_name(channel):
        raise ValueError("channel must be 1-64 characters without control characters or slashes")
    grant_list = sorted(set(grants))
    unknown = set(grant_list) - set(GRANTS)
    if unknown:
        raise ValueError(f"unknown grants: {', '.join(sorted(unknown))}")
    lifetime = settings.NETCALL_TOKEN_TTL if ttl is None else ttl
    if lifetime <= 0:
        raise ValueError("ttl must be positive")
    expires_at = int((time.time() if now is None else now) + lifetime)
    payload = {"acc": account, "ch": channel, "grants": grant_list, "exp": expires_at, "id": secrets.token_hex(8)}
    return signing.dumps(payload, salt=TOKEN_SALT, compress=True)


def token_verify(token: object, *, now: float | None = None) -> JoinToken:
    if not isinstance(token, str) or not token:
        raise TokenError("token_missing", "a join token is required")
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        raise TokenError("token_invalid", "the token's signature is not valid") from None
    try:
        parsed = JoinToken(
            account=str(payload["acc"]),
            channel=str(payload["ch"]),
            grants=frozenset(str(g) for g in payload["grants"]),
            expires_at=int(payload["exp"]),
            id=str(payload.get("id", "")),
        )
    except (KeyError, TypeError, ValueError):
        raise TokenError("token_invalid", "the token's content is not valid") from None
    if parsed.expires_at <= (time.time() if now is None else now):
        raise TokenError("token_expired", "the token has expired")
    return parsed


def token_revoked(token: JoinToken) -> bool:
    """On the deny list (a database query: call it off the event loop)."""
    return bool(token.id) and RevokedToken.objects.filter(token_id=token.id).exists()


def token_check(token: object) -> JoinToken:
    """`token_verify`, and not revoked (`token_revoked`): for every request that acts on a token."""
    parsed = token_verify(token)
    if token_revoked(parsed):
        raise TokenError("token_revoked", "the token has been revoked")
    return parsed


def token_revoke(token: JoinToken, *, by: str) -> bool:
    """Put the token on the deny list until it expires; False when it was already there or has no id."""
    if not token.id:
        return False
    _, created = RevokedToken.objects.get_or_create(
        token_id=token.id,
        defaults={"account": token.account, "channel": token.channel, "expires_at": token.expires_at, "by": by},
    )
    return created
