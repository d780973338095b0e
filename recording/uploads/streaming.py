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
import threading
import time
from collections import deque
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
READ_AHEAD_BYTES = 4 * 1024 * 1024  # received ahead of the writer, per request
READ_MIN_BYTES = 1024 * 1024  # a read waits for this much (or the end) before it returns, so writes are large
# What a cut connection may lose of the bytes that reached the server: the server's buffer not yet handed
# over as a message (uvicorn's 64 KiB high-water mark plus one 256 KiB socket read), well under this.
CUT_LOSS_BYTES = 1024 * 1024


class ReceiveStream:
    """A request body read from the ASGI `receive` callable by a thread other than the event loop's.

    Nothing is received before the first `read()`: a request refused from its headers leaves its body
    unread. From then on a task on the event loop (the pump) keeps receiving ahead into a buffer of at most
    `READ_AHEAD_BYTES` (plus one ASGI message), so the network and the disk work at the same time; while
    the buffer is full it stops receiving and the server stops reading the socket (back-pressure).

    `read(size)` blocks the calling thread until `READ_MIN_BYTES` (or `size`, if smaller) have arrived, the
    body ended, or (with some bytes in hand) `SHORT_READ_SECONDS` passed, and then returns all it holds up
    to `size`: like a socket's, a read may return less than asked, and the reader gets large pieces
    however small the server's messages are. The two threads meet at a lock and a condition (no task or
    future per read); the pump wakes the reader only when a read waits. A client that goes away, or sends
    nothing for `idle_timeout` seconds, ends the body: the bytes that came before count (tus keeps them),
    the rest never arrives."""

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop, *, idle_timeout: float) -> None:
        self._receive = receive
        self._loop = loop
        self._idle_timeout = idle_timeout
        self._cond = threading.Condition()
        self._parts: deque[bytes] = deque()
        self._held = 0
        self._ended = False
        self._started = False  # the first read asked the loop to start the pump
        self._closed = False
        self._pump: asyncio.Task[None] | None = None
        self._room: asyncio.Event | None = None  # set (by the reader) when the buffer has room again
        self._pump_waits = False  # the pump waits for room
        self.disconnected = False
        self.stalled = False

    def read(self, size: int = -1, /) -> bytes:
        with self._cond:
            if not self._started and not self._ended:
                self._started = True
                self._loop.call_soon_threadsafe(self._start_pump)
            enough = READ_MIN_BYTES if size < 0 else min(size, READ_MIN_BYTES)
            deadline: float | None = None
            while not self._ended and self._held < enough:
                if self._held:
                    now = time.monotonic()
                    deadline = deadline or now + SHORT_READ_SECONDS
                    if now >= deadline:
                        break  # hand over what came; a slow client's bytes are written as they trickle in
                    self._cond.wait(deadline - now)
                else:
                    self._cond.wait()
            wanted = self._held if size < 0 else min(size, self._held)
            out: list[bytes] = []
            taken = 0
            while taken < wanted:
                part = self._parts.popleft()
                if taken + len(part) > wanted:
                    keep = wanted - taken
                    part, rest = part[:keep], part[keep:]
                    self._parts.appendleft(rest)
                out.append(part)
                taken += len(part)
            self._held -= taken
            if self._pump_waits and self._held < READ_AHEAD_BYTES:
                self._pump_waits = False
                room = self._room
                assert room is not None
                self._loop.call_soon_threadsafe(room.set)
        return out[0] if len(out) == 1 else b"".join(out)

    def close(self) -> None:
        """From the reader's thread, once the request is answered: what is unread is dropped, the pump stops."""
        with self._cond:
            self._closed = True
            self._parts.clear()
            self._held = 0
        if self._started:
            self._loop.call_soon_threadsafe(self._stop_pump)

    def _start_pump(self) -> None:
        if self._closed:
            return
        self._room = asyncio.Event()
        self._pump = asyncio.create_task(self._run_pump())

    def _stop_pump(self) -> None:
        if self._pump is not None:
            self._pump.cancel()

    def _end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    async def _run_pump(self) -> None:
        room = self._room
        assert room is not None
        try:
            while True:
                with self._cond:
                    if self._closed:
                        break  # the request was answered: what the client still sends is not ours to keep
                    full = self._held >= READ_AHEAD_BYTES
                    if full:
                        room.clear()
                        self._pump_waits = True
                if full:
                    await room.wait()
                    continue
                try:
                    async with asyncio.timeout(self._idle_timeout):
                        message = await self._receive()
                except TimeoutError:
                    self.stalled = True
                    logger.info("Upload request body stalled for %.0f s: ended there", self._idle_timeout)
                    break
                if message["type"] == "http.disconnect":
                    self.disconnected = True
                    break
                body = message.get("body", b"")
                more = message.get("more_body", False)
                with self._cond:
                    if body:
                        self._parts.append(body)
                        self._held += len(body)
                    self._ended = not more
                    self._cond.notify_all()
                if not more:
                    break
        finally:
            self._end()


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
            body.close()
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
