"""The request body cap in front of Django (recording/web/body_limit.py), driven as an ASGI app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from recording.web.body_limit import RequestBodyLimit


def run(limit: int, headers: list[tuple[bytes, bytes]], bodies: list[bytes]) -> tuple[list[dict[str, Any]], int, int]:
    """(messages sent, body messages the client gave, body bytes the inner app saw)."""
    given = 0
    seen = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal given
        given += 1
        body = bodies[given - 1] if given <= len(bodies) else b""
        return {"type": "http.request", "body": body, "more_body": given < len(bodies)}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async def app(scope: Any, receive: Any, send: Any) -> None:  # reads the whole body, as Django does
        nonlocal seen
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "method": "POST", "path": "/api/tokens", "headers": headers}
    asyncio.run(RequestBodyLimit(app, limit)(scope, receive, send))
    return sent, given, seen


def error_of(sent: list[dict[str, Any]]) -> tuple[int, str]:
    return sent[0]["status"], json.loads(sent[1]["body"])["error"]["code"]


def test_a_declared_length_over_the_cap_is_refused_before_any_body_is_read() -> None:
    sent, given, seen = run(1000, [(b"content-length", b"1001")], [b"x" * 1001])
    assert error_of(sent) == (413, "body_too_large")
    assert given == 0 and seen == 0


def test_a_chunked_body_is_stopped_once_it_passes_the_cap() -> None:
    sent, given, seen = run(1000, [(b"transfer-encoding", b"chunked")], [b"x" * 600] * 10)
    assert error_of(sent) == (413, "body_too_large")
    assert given == 2 and seen == 600  # the app never got the piece that went over


def test_bodies_within_the_cap_pass_untouched() -> None:
    sent, _, seen = run(1000, [(b"content-length", b"1000")], [b"x" * 500, b"x" * 500])
    assert sent[0]["status"] == 200 and seen == 1000
