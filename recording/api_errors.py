"""JSON error responses of the HTTP API: `{"error": {"code", "message"}}` with a stable code."""

from __future__ import annotations

from django.http import JsonResponse


def api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)
