"""The one adapter from `NetcallError` to an HTTP answer: `{"error": {"code", "message"}}` with the error's
status. API views are wrapped in `api_endpoint`, raise `NetcallError` for anything they refuse, and return
only successes; the tus views add their protocol headers to the same body (recording/uploads/views.py)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from recording.errors import NetcallError
from recording.web.apikeys import request_has_api_key

View = Callable[..., HttpResponse]

UNAUTHORIZED_MESSAGE = "a valid 'Authorization: Bearer <NETCALL_API_KEY>' header is required"


def error_response(exc: NetcallError) -> JsonResponse:
    return JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)


def api_endpoint(*methods: str) -> Callable[[View], View]:
    """A backend API view: only `methods`, only with the API key, errors rendered as JSON.

    The API key is checked before anything else is read (405 for a wrong method comes first, as before)."""

    allowed = (*methods, "HEAD") if "GET" in methods else methods  # HEAD wherever GET: Django drops the body

    def decorate(view: View) -> View:
        @csrf_exempt  # authenticated by the API key header, never by cookies
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in allowed:
                    raise NetcallError("method_not_allowed", f"use {' or '.join(methods)}", status=405)
                if not request_has_api_key(request):
                    raise NetcallError("unauthorized", UNAUTHORIZED_MESSAGE, status=401)
                return view(request, *args, **kwargs)
            except NetcallError as exc:
                response = error_response(exc)
                if exc.status == 405:
                    response["Allow"] = ", ".join(allowed)
                return response

        return wrapper

    return decorate


def json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is `{}`); NetcallError `bad_request` otherwise."""
    try:
        parsed: Any = json.loads(body or b"{}")
    except ValueError:
        raise NetcallError("bad_request", "the body must be JSON") from None
    if not isinstance(parsed, dict):
        raise NetcallError("bad_request", "the body must be a JSON object")
    return parsed


def ttl_field(body: dict[str, Any], *, default: int, maximum: int) -> int:
    """A `ttl` field: whole seconds from 1 to `maximum`."""
    ttl = body.get("ttl", default)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= maximum:
        raise NetcallError("bad_request", f"'ttl' must be a whole number of seconds from 1 to {maximum}")
    return ttl
