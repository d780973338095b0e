"""The wire protocol of docs/protocol.md: parsing client frames and building server frames."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from typing import Any

from recording.names import is_valid_name

REQUEST_TYPES = frozenset({"join", "leave", "signal", "media", "record.start", "record.stop", "ping"})
RECORD_KINDS = frozenset({"mp4", "aac"})
MAX_ID_LENGTH = 64


class ProtocolError(Exception):
    """A frame the server refuses; `code` is stable, `message` is for people."""

    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    type: str
    id: int | str | None
    body: dict[str, Any]

    def field(self, name: str, kind: builtins.type, *, required: bool = True) -> Any:
        value = self.body.get(name)
        if value is None and not required:
            return None
        # bool is an int subclass; never accept it where a number or string is expected.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ProtocolError("bad_message", f"field {name!r} is missing or has the wrong type", self.id)
        return value

    def name_field(self, name: str, *, required: bool = True) -> str | None:
        value = self.body.get(name)
        if value is None and not required:
            return None
        if not is_valid_name(value):
            raise ProtocolError(
                "bad_message", f"field {name!r} must be 1-64 characters without control characters or slashes", self.id
            )
        return str(value)


def request_parse(text: str | None, *, max_bytes: int) -> Request:
    if text is None:
        raise ProtocolError("bad_json", "binary frames are not part of the protocol")
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ProtocolError("message_too_large", f"frames are limited to {max_bytes} bytes")
    try:
        body = json.loads(text)
    except ValueError:
        raise ProtocolError("bad_json", "the frame is not valid JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError("bad_json", "the frame must be a JSON object")
    request_id = body.get("id")
    if request_id is not None and (
        isinstance(request_id, bool)
        or not isinstance(request_id, int | str)
        or (isinstance(request_id, str) and len(request_id) > MAX_ID_LENGTH)
    ):
        raise ProtocolError("bad_message", "'id' must be an integer or a short string")
    kind = body.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "'type' must be a string", request_id)
    if kind not in REQUEST_TYPES:
        raise ProtocolError("unknown_type", f"unknown message type {kind[:40]!r}", request_id)
    return Request(kind, request_id, body)


def ack(request_id: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "ack", "id": request_id, "data": data or {}}


def error(code: str, message: str, request_id: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if request_id is not None:
        frame["id"] = request_id
    return frame
