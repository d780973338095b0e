"""Who is asking over HTTP: a customer's server with the backend API key, or an operator (Django staff)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest


def request_has_api_key(request: HttpRequest) -> bool:
    expected = settings.NETCALL_API_KEY
    if not expected:
        return False  # no key configured: the API is closed, never open
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())


def request_is_staff(request: HttpRequest) -> bool:
    """A signed-in, active Django staff user (the operators' side of the library)."""
    user = getattr(request, "user", None)
    return user is not None and user.is_active and user.is_staff
