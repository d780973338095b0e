"""Join tokens for the demo room page and the library pages, kept out of URLs.

A token arrives in a POST body (a form, or the page's script handing over a token it found in the URL
fragment, which browsers never send to the server) and is kept in the browser's session for that
channel: the session cookie is HttpOnly and SameSite=Lax (Django's defaults) and expires with the token.
A token in a query string is refused: by then it is already in access logs, history and Referers.
"""

from __future__ import annotations

import time

from django.http import HttpRequest

from recording.tokens import JoinToken, TokenError, token_check

SESSION_KEY = "netcall_page_tokens"
QUERY_REFUSED = "tokens do not go in URLs: open the link with #token=… instead of ?token=…, or POST it"


def page_token_remember(request: HttpRequest, presented: object, channel: str) -> JoinToken:
    """Check `presented` (TokenError if unusable or for another channel) and keep it for `channel`."""
    token = token_check(presented)
    if token.channel != channel:
        raise TokenError("token_wrong_channel", "the token is bound to another channel")
    tokens = dict(request.session.get(SESSION_KEY, {}))
    tokens[channel] = presented
    request.session[SESSION_KEY] = tokens
    _expire_with_tokens(request, tokens)
    return token


def page_token(request: HttpRequest, channel: str) -> tuple[str, JoinToken] | None:
    """The kept token for `channel` and what it says, while it is valid and not revoked."""
    raw = request.session.get(SESSION_KEY, {}).get(channel)
    if not raw:
        return None
    try:
        token = token_check(raw)
    except TokenError:
        return None
    return (raw, token) if token.channel == channel else None


def _expire_with_tokens(request: HttpRequest, tokens: dict[str, str]) -> None:
    expiries = []
    for raw in tokens.values():
        try:
            expiries.append(token_check(raw).expires_at)
        except TokenError:
            continue
    if expiries:
        request.session.set_expiry(max(1, int(max(expiries) - time.time())))
