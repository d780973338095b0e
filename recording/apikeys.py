"""The backend API key: how a customer's server authenticates to netcall's HTTP API."""

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
