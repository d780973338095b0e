"""The wire protocol of docs/protocol.md: parsing client frames and building server frames."""

from __future__ import annotations

import builtins
import dataclasses
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from recording.errors import NetcallError
from recording.names import is_valid_name

RECORD_KINDS = frozenset({"mp4", "aac"})
MAX_ID_LENGTH = 64


# WebSocket close codes (docs/protocol.md, "Closing"): after the `error` frame that says why.
CLOSE_POLICY = 1008  # rate_limit_abuse, too_many_connections
CLOSE_JOIN_TIMEOUT = 4008  # join_timeout
CLOSE_REPLACED = 4009  # replaced


class ProtocolError(NetcallError):
    """A frame the server refuses; `request_id` echoes the frame's `id` where it could be read. With a
    `close_code`, the server closes the connection after sending the error."""

    def __init__(self, code: str, message: str, request_id: Any = None, *, close_code: int | None = None) -> None:
        super().__init__(code, message)
        self.request_id = request_id
        self.close_code = close_code


@dataclass(frozen=True)
class Request:
    type: str
    id: int | str | None
    body: dict[str, Any]
    size: int = dataclasses.field(default=0, compare=False)  # bytes of the frame, UTF-8

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


def request_parse(text: str | None, *, max_bytes: int, types: Collection[str]) -> Request:
    """A client frame as a Request of one of `types` (the consumer's handler table); ProtocolError if not."""
    if text is None:
        raise ProtocolError("bad_json", "binary frames are not part of the protocol")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
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
    if kind not in types:
        raise ProtocolError("unknown_type", f"unknown message type {kind[:40]!r}", request_id)
    return Request(kind, request_id, body, size)


# --- frames the server sends (consumer and server recorder alike) ----------------------------------------


def ack(request_id: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "ack", "id": request_id, "data": data or {}}


def error(code: str, message: str, request_id: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if request_id is not None:
        frame["id"] = request_id
    return frame


def member_joined(member: dict[str, Any]) -> dict[str, Any]:
    """`member` is a member's wire form (`Member.as_wire()`)."""
    return {"type": "member.joined", "member": member}


def member_updated(member: dict[str, Any]) -> dict[str, Any]:
    return {"type": "member.updated", "member": member}


def member_left(*, account: str, session: str, reason: str) -> dict[str, Any]:
    return {"type": "member.left", "account": account, "session": session, "reason": reason}


def signal(*, sender: str, sender_session: str, data: dict[str, Any], to_session: str | None = None) -> dict[str, Any]:
    frame = {"type": "signal", "from": sender, "fromSession": sender_session, "data": data}
    if to_session is not None:
        frame["toSession"] = to_session
    return frame


def record_state(*, state: str, record: dict[str, Any]) -> dict[str, Any]:
    """`record` is a recording notice's wire form (`RecordNotice.as_wire()`)."""
    return {"type": "record.state", "state": state, "record": record}


def record_request(consent: dict[str, Any]) -> dict[str, Any]:
    """To the member asked: may `recorder` record you? (`consent` is `RecordConsent.as_wire()`)."""
    return {
        "type": "record.request",
        "request": consent["id"],
        "recorder": consent["recorder"],
        "kind": consent["kind"],
    }


def record_consent(consent: dict[str, Any], *, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """To the recorder: the answer to its request (`state` accepted or refused), or `pending` for a question
    its running mix now waits for (a member to be asked joined); `record` is the recording notice an
    accepted request started (kind mp4)."""
    return {
        "type": "record.consent",
        "request": consent["id"],
        "target": consent["target"],
        "kind": consent["kind"],
        "state": consent["state"],
        "answeredAt": consent["answeredAt"],
        "record": record,
    }


def live_state(*, session: str, state: str, recording: bool, **details: Any) -> dict[str, Any]:
    """The host's view of its live push (`attempt`, `retryIn`, `error`, `reason` as they apply)."""
    return {"type": "live.state", "session": session, "state": state, **details, "recording": recording}


# --- channel-layer messages between processes (consumer handlers of the same names) ----------------------


def room_event(frame: dict[str, Any], *, exclude: str | None = None, channel_name: str | None = None) -> dict[str, Any]:
    """A frame for every member of a room's group but the session `exclude`, with its JSON text encoded once
    here for all of them (`text`; `frame` is for receivers that read it). A `member.joined` carries the
    member's `channel_name` too, for the member directories of the processes serving the room (never sent
    to a client)."""
    event = {"type": "room.event", "frame": frame, "text": frame_text(frame), "exclude": exclude}
    if channel_name is not None:
        event["channel_name"] = channel_name
    return event


def frame_text(frame: dict[str, Any]) -> str:
    """A server frame as the text of a WebSocket message."""
    return json.dumps(frame, ensure_ascii=False)


def member_signal(frame: dict[str, Any]) -> dict[str, Any]:
    """A signal frame for one member's connection."""
    return {"type": "member.signal", "frame": frame}


def member_replaced(session: str) -> dict[str, Any]:
    """Tell the connection holding `session` that a re-join took its place."""
    return {"type": "member.replaced", "session": session}


def member_gone(session: str, *, reason: str) -> dict[str, Any]:
    """Tell the connection holding `session` that its member was removed (e.g. `expired`)."""
    return {"type": "member.gone", "session": session, "reason": reason}
