"""Who may frame which page: the embed page for the origins of NETCALL_EMBED_ORIGINS, no page for anyone else.

- The embed page (a view wrapped in `embeddable`) gets a strict Content-Security-Policy whose
  `frame-ancestors` lists this site and the configured origins, and a Permissions-Policy that lets the
  page itself use camera, microphone, screen capture, autoplay and fullscreen (what the host page
  delegates to it with the iframe's `allow` attribute; static/netcall/embed.js sets it). It is exempt
  from X-Frame-Options, which cannot name origins.
- Every other page keeps Django's `X-Frame-Options: DENY` and gets its modern equivalent,
  `Content-Security-Policy: frame-ancestors 'none'` (or `'self'` for a view marked SAMEORIGIN), unless
  the view set a policy of its own.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

logger = logging.getLogger(__name__)

EMBEDDABLE_ATTR = "netcall_embeddable"
# What the embed page may use, and what the host page's iframe `allow` attribute must delegate.
EMBED_FEATURES = ("camera", "microphone", "display-capture", "autoplay", "fullscreen")
# Powerful features the call never needs: off for the embed page and anything it frames.
DENIED_FEATURES = ("geolocation", "payment", "usb", "serial", "hid", "midi", "browsing-topics")
# The embed page's own resources: its scripts and styles from this site only, no inline code.
EMBED_CSP = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self'",  # CSP 3: 'self' covers ws:/wss: to this host (signalling)
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
)


def origin_problem(value: str) -> str | None:
    """Why `value` is not an exact web origin (`https://app.example.com`, `http://127.0.0.1:8001`), or None.

    Origins are compared with the browser's serialisation (postMessage's `event.origin`), so only that
    form is accepted: lower case, no path, no default port, no wildcard."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must start with https:// (or http://) and name a host"
    if parts.username or parts.password or parts.path or parts.query or parts.fragment or "*" in value:
        return "must be an origin only: no path, trailing slash, query, credentials or wildcard"
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    canonical = f"{parts.scheme}://{host}" + ("" if port in (None, default_port) else f":{port}")
    if canonical != value:
        return f"write it as the browser does: {canonical}"
    return None


def embed_origins() -> tuple[str, ...]:
    """The origins of NETCALL_EMBED_ORIGINS; ImproperlyConfigured if one is not an exact origin."""
    origins: Iterable[str] = getattr(settings, "NETCALL_EMBED_ORIGINS", ())
    out: list[str] = []
    for origin in origins:
        problem = origin_problem(origin)
        if problem:
            raise ImproperlyConfigured(f"NETCALL_EMBED_ORIGINS: {origin!r} {problem}")
        if origin not in out:
            out.append(origin)
    return tuple(out)


def embed_content_security_policy(origins: Iterable[str]) -> str:
    ancestors = " ".join(("'self'", *origins))
    return "; ".join((*EMBED_CSP, f"frame-ancestors {ancestors}"))


def embed_permissions_policy() -> str:
    granted = [f"{feature}=(self)" for feature in EMBED_FEATURES]
    denied = [f"{feature}=()" for feature in DENIED_FEATURES]
    return ", ".join(granted + denied)


ViewFunc = Callable[..., HttpResponseBase]


def embeddable(view: ViewFunc) -> ViewFunc:
    """Mark a view's responses as framable by the embed origins (see the module doc)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        setattr(response, EMBEDDABLE_ATTR, True)
        # XFrameOptionsMiddleware's own flag (not in the type stubs): no X-Frame-Options on this response.
        setattr(response, "xframe_options_exempt", True)  # noqa: B010
        return response

    return wrapper


class SecurityHeadersMiddleware:
    """Adds the framing and permission headers. List it before XFrameOptionsMiddleware, so that it sees
    the X-Frame-Options header that middleware sets."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if getattr(response, EMBEDDABLE_ATTR, False):
            response["Content-Security-Policy"] = embed_content_security_policy(embed_origins())
            response["Permissions-Policy"] = embed_permissions_policy()
            response.headers.pop("X-Frame-Options", None)
            return response
        if "Content-Security-Policy" not in response:
            x_frame_options = response.get("X-Frame-Options", "").upper()
            if x_frame_options == "DENY":
                response["Content-Security-Policy"] = "frame-ancestors 'none'"
            elif x_frame_options == "SAMEORIGIN":
                response["Content-Security-Policy"] = "frame-ancestors 'self'"
        return response
