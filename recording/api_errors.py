"""JSON error responses of the HTTP API: `{"error": {"code", "message"}}` with a stable code."""

from __future__ import annotations

import json
from typing import Any

from django.http import JsonResponse


def api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


UNAUTHORIZED_MESSAGE = "a valid 'Authorization: Bearer <NETCALL_API_KEY>' header is required"


def api_unauthorized() -> JsonResponse:
    return api_error(401, "unauthorized", UNAUTHORIZED_MESSAGE)


def api_json_object(body: bytes) -> dict[str, Any] | JsonResponse:
    """The request body as a JSON object (empty body: `{}`), or the 400 response that says why not."""
    try:
        parsed: Any = json.loads(body or b"{}")
    except ValueError:
        return api_error(400, "bad_request", "the body must be JSON")
    if not isinstance(parsed, dict):
        return api_error(400, "bad_request", "the body must be a JSON object")
    return parsed
