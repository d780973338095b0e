"""The upload request body (recording/uploads/streaming.py `ReceiveStream`): an event loop in one thread
feeds ASGI messages, the reader in another gets large pieces, and the buffer between them stays bounded."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from recording.uploads import streaming
from recording.uploads.streaming import READ_AHEAD_BYTES, READ_MIN_BYTES, ReceiveStream

KIB = 1024
MESSAGE = 64 * KIB  # uvicorn's usual message size at its high-water mark


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


class Body:
    """An ASGI `receive` of `count` messages of MESSAGE bytes (then a disconnect if `cut`), recording the
    largest number of bytes the stream held unread whenever a message was asked for."""

    def __init__(self, count: int, *, cut: bool = False) -> None:
        self.count, self.cut, self.given = count, cut, 0
        self.stream: ReceiveStream | None = None
        self.most_held = 0

    async def receive(self) -> dict[str, Any]:
        assert self.stream is not None
        self.most_held = max(self.most_held, self.stream._held)
        if self.given == self.count:
            return {"type": "http.disconnect"}
        self.given += 1
        more = self.cut or self.given < self.count
        return {"type": "http.request", "body": bytes([self.given % 256]) * MESSAGE, "more_body": more}


def stream_of(body: Body, loop: asyncio.AbstractEventLoop) -> ReceiveStream:
    body.stream = ReceiveStream(body.receive, loop, idle_timeout=30)
    return body.stream


def test_reads_come_in_large_pieces_and_the_buffer_stays_bounded(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A loaded machine may starve the pump past the short-read deadline: this test is about piece size.
    monkeypatch.setattr(streaming, "SHORT_READ_SECONDS", 60.0)
    body = Body(count=(16 * 1024 * KIB) // MESSAGE)  # 16 MiB in 64 KiB messages
    stream = stream_of(body, loop)
    assert body.given == 0  # nothing is received before the first read
    pieces = []
    while data := stream.read(8 * 1024 * KIB):
        pieces.append(data)
    assert sum(map(len, pieces)) == 16 * 1024 * KIB
    # never a read per message; the last piece is whatever the body had left
    assert all(len(piece) >= READ_MIN_BYTES for piece in pieces[:-1])
    assert body.most_held <= READ_AHEAD_BYTES  # the pump stops while the buffer is full
    expected = b"".join(bytes([i % 256]) * MESSAGE for i in range(1, body.count + 1))
    assert b"".join(pieces) == expected


def test_a_disconnect_ends_the_body_and_keeps_what_came(loop: asyncio.AbstractEventLoop) -> None:
    body = Body(count=5, cut=True)
    stream = stream_of(body, loop)
    assert stream.read(READ_MIN_BYTES * 4) == b"".join(bytes([i]) * MESSAGE for i in range(1, 6))
    assert stream.read(READ_MIN_BYTES) == b""
    assert stream.disconnected


def test_close_stops_a_pump_that_waits_for_room(loop: asyncio.AbstractEventLoop) -> None:
    body = Body(count=10_000)  # far more than the read-ahead: the pump fills its buffer and waits
    stream = stream_of(body, loop)
    assert len(stream.read(READ_MIN_BYTES)) == READ_MIN_BYTES
    stream.close()
    given = body.given
    assert asyncio.run_coroutine_threadsafe(asyncio.sleep(0.2, result=True), loop).result(timeout=10)
    assert body.given <= given + 1  # at most the message being received when it closed
    assert given <= (READ_MIN_BYTES + READ_AHEAD_BYTES) // MESSAGE + 1
