"""A cap on request bodies (NETCALL_MAX_REQUEST_BODY_BYTES) for every HTTP endpoint but the tus uploads.

Django's ASGI handler reads a request's whole body before a view runs. In front of it, this ASGI middleware
answers 413 `body_too_large` at once when `Content-Length` is over the cap (nothing of the body is read),
and stops a body without `Content-Length` (chunked) as soon as it passes the cap. The uploads, which carry
large bodies by design, are served by recording/uploads/streaming.py and checked there by the tus rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings

from recording.errors import NetcallError
from recording.web.api_errors import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _too_large(limit: int) -> NetcallError:
    return NetcallError("body_too_large", f"request bodies here may be at most {limit} bytes", status=413)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses a malformed length before we see it
    return None


async def _send_error(send: Send, exc: NetcallError) -> None:
    response = error_response(exc)
    headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


class RequestBodyLimit:
    """ASGI middleware: HTTP request bodies larger than the cap are refused with 413 before they are read."""

    def __init__(self, app: ASGIApp, limit: int | None = None) -> None:
        self.app = app
        self.limit = settings.NETCALL_MAX_REQUEST_BODY_BYTES if limit is None else limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        length = _content_length(scope)
        if length is not None and length > limit:
            await _send_error(send, _too_large(limit))
            return
        received = 0
        overflowed = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            if overflowed:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflowed = True  # Django sees the client go away and stops; we answer instead
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if overflowed and not started:
                return  # the app's answer to a body it never got whole: ours goes out instead
            started = True
            await send(message)

        await self.app(scope, limited_receive, watched_send)
        if overflowed and not started:
            await _send_error(send, _too_large(limit))
