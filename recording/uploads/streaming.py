"""The ASGI application for /api/uploads/: request bodies go from the connection to the staging file as they
arrive, never buffered whole.

Django's own ASGI handler reads a request's whole body (into a spooled temporary file) before any view runs,
and runs sync views in one shared thread. For the tus endpoint neither works: a PATCH may carry gigabytes
and take minutes. So `UploadsApplication` serves these requests with Django's ordinary handler (the same
middleware, URL routing and tus views as every other request, recording/uploads/views.py) in a thread of its
own per request, and gives the request a body (`ReceiveStream`) that reads ASGI `http.request` messages
only when the view asks for bytes. Until then the server does not read the socket (uvicorn's flow control),
so the client is held back by TCP instead of the server buffering; a request refused from its headers
(token, ownership, offset, content type, size) is answered before any of its body is read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, TypeVar, cast

from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIRequest, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
T = TypeVar("T")

PATH_PREFIX = "/api/uploads/"
MAX_CONCURRENT_REQUESTS = 64  # upload requests served at once; more wait (their bodies unread) for a thread
SHORT_READ_SECONDS = 1.0  # a read returns what it has after this long, so a slow client's bytes are written


class ReceiveStream:
    """A request body read from the ASGI `receive` callable by a thread other than the event loop's.

    `read(size)` blocks that thread until `size` bytes, the end of the body, or (with some bytes in hand)
    `SHORT_READ_SECONDS` have passed, and returns them; at most `size` bytes plus one ASGI message are held.
    A client that goes away, or sends nothing for `idle_timeout` seconds, ends the body: the bytes that came
    before count (tus keeps them), the rest never arrives."""

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop, *, idle_timeout: float) -> None:
        self._receive = receive
        self._loop = loop
        self._idle_timeout = idle_timeout
        self._pending = b""
        self._more = True
        self.disconnected = False
        self.stalled = False

    def read(self, size: int = -1, /) -> bytes:
        if not self._more and not self._pending:
            return b""
        return asyncio.run_coroutine_threadsafe(self._read(size), self._loop).result()

    def close(self) -> None:
        self._pending = b""

    async def _read(self, size: int) -> bytes:
        parts = [self._pending] if self._pending else []
        held = len(self._pending)
        self._pending = b""
        started = self._loop.time()
        while self._more and (size < 0 or held < size):
            waited = self._loop.time() - started
            if held and waited >= SHORT_READ_SECONDS:
                break
            timeout = SHORT_READ_SECONDS - waited if held else self._idle_timeout
            try:
                message = await asyncio.wait_for(self._receive(), timeout)
            except TimeoutError:
                if held:
                    break  # return what came; the next read waits again
                self.stalled, self._more = True, False
                logger.info("Upload request body stalled for %.0f s: ended there", self._idle_timeout)
                break
            if message["type"] == "http.disconnect":
                self.disconnected, self._more = True, False
                break
            body = message.get("body", b"")
            if body:
                parts.append(body)
                held += len(body)
            self._more = bool(message.get("more_body", False))
        data = b"".join(parts)
        if size >= 0 and len(data) > size:
            data, self._pending = data[:size], data[size:]
        return data


class UploadsApplication:
    """ASGI app serving /api/uploads/ with Django's handler in a thread per request, bodies streamed."""

    def __init__(self) -> None:
        self._handler = BaseHandler()
        self._handler.load_middleware(is_async=False)
        self._threads = ThreadPoolExecutor(max_workers=MAX_CONCURRENT_REQUESTS, thread_name_prefix="netcall-upload")

    @staticmethod
    def handles(scope: Scope) -> bool:
        return scope["type"] == "http" and str(scope["path"]).startswith(PATH_PREFIX)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        # A request stalls only when its client stops sending; end it well before its lease on the upload runs out.
        body = ReceiveStream(receive, loop, idle_timeout=settings.NETCALL_UPLOAD_LOCK_SECONDS / 2)
        await loop.run_in_executor(self._threads, self._serve, scope, body, send, loop)

    def _serve(self, scope: Scope, body: ReceiveStream, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        """In a worker thread: the whole request, as Django's WSGI handler would serve it, then the answer.

        Everything happens in this one thread, so the database connection the view opened is the one that
        `request_finished` (fired by `response.close()`) closes."""

        def on_loop(coroutine: Awaitable[T]) -> T:
            return asyncio.run_coroutine_threadsafe(coroutine, loop).result()  # type: ignore[arg-type]

        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=type(self), scope=scope)
        response: HttpResponseBase
        try:
            request = ASGIRequest(scope, cast(IO[bytes], body))
        except UnicodeDecodeError:
            logger.warning("Bad Request (UnicodeDecodeError) on %s", scope.get("path"))
            response = HttpResponseBadRequest()
        else:
            response = self._handler.get_response(request)
        try:
            if body.stalled:
                response["Connection"] = "close"  # what is left of its body is not worth waiting for
            on_loop(_send_response(response, send))
        except OSError:
            logger.info("Client went away before the answer to %s %s", scope.get("method"), scope.get("path"))
        finally:
            response.close()


async def _send_response(response: HttpResponseBase, send: Send) -> None:
    headers = [(str(name).encode("ascii"), str(value).encode("latin1")) for name, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    if isinstance(response, HttpResponse):
        await send({"type": "http.response.body", "body": response.content})
        return
    for part in response:  # a streaming response (none of the tus views sends one)
        await send({"type": "http.response.body", "body": bytes(part), "more_body": True})
    await send({"type": "http.response.body"})
