"""Which pages may open the signalling WebSocket: this service's own origin, exactly, or a listed one.

Channels' AllowedHostsOriginValidator compares the Origin's host only, so a page served by anything else
on the same host (another port, plain http beside https) could open a socket with the user's cookies and
join on their behalf. Here scheme, host and port must all match: the origin the request itself was made
to (its Host header, itself one of ALLOWED_HOSTS) or one of NETCALL_WS_ORIGINS.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalised(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, or None when it is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def origin_allowed(
    origin: str | None, *, host: str | None, secure: bool, listed: Collection[str], allowed_hosts: Collection[str]
) -> bool:
    """True for the request's own origin (scheme by `secure`, host and port from the Host header, which must
    be an allowed host) or an origin in `listed`."""
    if not origin:
        return False
    found = _normalised(origin)
    if found is None:
        return False
    if any(_normalised(entry) == found for entry in listed):
        return True
    if not host:
        return False
    domain, port = split_domain_port(host.lower())
    if not domain or not validate_host(domain, list(allowed_hosts)):
        return False
    scheme = "https" if secure else "http"
    own = (scheme, domain.strip("[]"), int(port) if port else DEFAULT_PORTS[scheme])
    return (found[0], found[1].strip("[]"), found[2]) == own


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin1")
    return None


def _secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    return bool(proxy_header) and (_header(scope, b"x-forwarded-proto") or "").lower() == "https"


class ExactOriginValidator:
    """ASGI middleware for the WebSocket router (netcall_site/asgi.py)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        allowed = origin_allowed(
            _header(scope, b"origin"),
            host=_header(scope, b"host"),
            secure=_secure(scope),
            listed=settings.NETCALL_WS_ORIGINS,
            allowed_hosts=settings.ALLOWED_HOSTS,
        )
        if not allowed:
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
