"""The wire protocol (recording/signalling/protocol.py): parsing client frames, building server frames."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

import pytest

from recording.errors import NetcallError
from recording.signalling import protocol
from recording.signalling.protocol import ProtocolError, Request, request_parse

TYPES = frozenset({"join", "signal"})


def parse(text: str | None, *, max_bytes: int = 1024, types: Collection[str] = TYPES) -> Request:
    return request_parse(text, max_bytes=max_bytes, types=types)


def assert_refused(call: Callable[[], object], code: str, request_id: Any = None) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        call()
    assert (info.value.code, info.value.status, info.value.request_id) == (code, 400, request_id)
    return info.value


def test_protocol_error_is_a_netcall_error() -> None:
    assert issubclass(ProtocolError, NetcallError)


# --- request_parse -------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", [None, 7, 0, -3, "a", "x" * protocol.MAX_ID_LENGTH])
def test_request_parse(request_id: int | str | None) -> None:
    body = {"type": "join", "channel": "room1", "id": request_id}
    assert parse(json.dumps(body)) == Request("join", request_id, body)


def test_request_parse_without_id() -> None:
    assert parse('{"type": "signal"}') == Request("signal", None, {"type": "signal"})


def test_binary_frames_are_refused() -> None:
    assert_refused(lambda: parse(None), "bad_json")


def test_size_limit_counts_utf8_bytes() -> None:
    frame = json.dumps({"type": "join", "name": "é" * 10}, ensure_ascii=False)
    size = len(frame.encode("utf-8"))
    assert size > len(frame)  # the limit below lies between character and byte counts
    assert parse(frame, max_bytes=size).body["name"] == "é" * 10
    assert_refused(lambda: parse(frame, max_bytes=size - 1), "message_too_large")
    assert_refused(lambda: parse(frame, max_bytes=len(frame)), "message_too_large")


def test_size_is_checked_before_json() -> None:
    assert_refused(lambda: parse("{" * 2000), "message_too_large")


@pytest.mark.parametrize("text", ["", "{", "{'type': 'join'}", '{"type": "join"} x', "NaN-ish"])
def test_bad_json(text: str) -> None:
    assert_refused(lambda: parse(text), "bad_json")


@pytest.mark.parametrize("text", ["[]", '"join"', "1", "null", '[{"type": "join"}]'])
def test_non_objects(text: str) -> None:
    assert_refused(lambda: parse(text), "bad_json")


@pytest.mark.parametrize("request_id", [True, False, 1.5, 2.0, [1], {"a": 1}, "x" * (protocol.MAX_ID_LENGTH + 1)])
def test_bad_ids(request_id: Any) -> None:
    # A bad id cannot be echoed back: the error carries none.
    assert_refused(lambda: parse(json.dumps({"type": "join", "id": request_id})), "bad_message", None)


@pytest.mark.parametrize(
    "body", [{"id": 4}, {"id": 4, "type": None}, {"id": 4, "type": 3}, {"id": 4, "type": ["join"]}]
)
def test_missing_type_echoes_the_id(body: dict[str, Any]) -> None:
    assert_refused(lambda: parse(json.dumps(body)), "bad_message", 4)


def test_unknown_type_echoes_the_id() -> None:
    error = assert_refused(lambda: parse('{"type": "leave", "id": "r1"}'), "unknown_type", "r1")
    assert "leave" in error.message


def test_unknown_type_message_is_truncated() -> None:
    error = assert_refused(lambda: parse(json.dumps({"type": "z" * 500})), "unknown_type")
    assert "z" * 40 in error.message
    assert "z" * 41 not in error.message


def test_types_collection_is_respected() -> None:
    assert parse('{"type": "leave"}', types={"leave"}).type == "leave"
    assert_refused(lambda: parse('{"type": "join"}', types={"leave"}), "unknown_type")
    assert_refused(lambda: parse('{"type": "join"}', types=()), "unknown_type")


# --- Request.field and name_field ----------------------------------------------------------------------


def request(**body: Any) -> Request:
    return Request("join", "r9", body)


def test_field_returns_values_of_the_kind() -> None:
    req = request(count=3, name="bob", on=True, data={"a": 1})
    assert req.field("count", int) == 3
    assert req.field("name", str) == "bob"
    assert req.field("on", bool) is True
    assert req.field("data", dict) == {"a": 1}


@pytest.mark.parametrize(("value", "kind"), [(True, int), (False, int), ("3", int), (3, str), (1.0, int), (1, bool)])
def test_field_wrong_kind(value: Any, kind: type) -> None:
    assert_refused(lambda: request(v=value).field("v", kind), "bad_message", "r9")


def test_field_required_and_optional() -> None:
    assert request().field("count", int, required=False) is None
    assert request(count=None).field("count", int, required=False) is None
    assert_refused(lambda: request().field("count", int), "bad_message", "r9")
    assert_refused(lambda: request(count=None).field("count", int), "bad_message", "r9")
    # Optional only means "may be absent": a present value of the wrong kind is still refused.
    assert_refused(lambda: request(count="3").field("count", int, required=False), "bad_message", "r9")


def test_name_field() -> None:
    assert request(channel="room 1").name_field("channel") == "room 1"
    assert request(channel="é" * 64).name_field("channel") == "é" * 64
    assert request().name_field("channel", required=False) is None


@pytest.mark.parametrize("value", [None, "", " room", "room ", "a/b", "a\\b", "a\nb", "a\x7fb", "x" * 65, 5, ["a"]])
def test_name_field_refuses(value: Any) -> None:
    assert_refused(lambda: request(channel=value).name_field("channel"), "bad_message", "r9")


def test_optional_name_field_still_checks_a_present_value() -> None:
    assert_refused(lambda: request(channel="a/b").name_field("channel", required=False), "bad_message", "r9")


# --- frames the server sends ---------------------------------------------------------------------------


def test_ack() -> None:
    assert protocol.ack(3) == {"type": "ack", "id": 3, "data": {}}
    assert protocol.ack("r", {"session": "s1"}) == {"type": "ack", "id": "r", "data": {"session": "s1"}}


def test_error_frames() -> None:
    assert protocol.error("bad_json", "no") == {"type": "error", "code": "bad_json", "message": "no"}
    assert protocol.error("bad_json", "no", 0) == {"type": "error", "code": "bad_json", "message": "no", "id": 0}
    assert protocol.error("x", "y", "r1")["id"] == "r1"


def test_member_frames() -> None:
    member = {"account": "alice", "session": "s1", "role": "host"}
    assert protocol.member_joined(member) == {"type": "member.joined", "member": member}
    assert protocol.member_updated(member) == {"type": "member.updated", "member": member}
    assert protocol.member_left(account="alice", session="s1", reason="left") == {
        "type": "member.left",
        "account": "alice",
        "session": "s1",
        "reason": "left",
    }


def test_signal_frames() -> None:
    data = {"sdp": "v=0"}
    assert protocol.signal(sender="alice", sender_session="s1", data=data) == {
        "type": "signal",
        "from": "alice",
        "fromSession": "s1",
        "data": data,
    }
    assert protocol.signal(sender="alice", sender_session="s1", data=data, to_session="s2") == {
        "type": "signal",
        "from": "alice",
        "fromSession": "s1",
        "data": data,
        "toSession": "s2",
    }


def test_record_state() -> None:
    record = {"id": "r1", "account": "alice"}
    assert protocol.record_state(state="started", record=record) == {
        "type": "record.state",
        "state": "started",
        "record": record,
    }


def test_live_state() -> None:
    assert protocol.live_state(session="s1", state="live", recording=False) == {
        "type": "live.state",
        "session": "s1",
        "state": "live",
        "recording": False,
    }
    assert protocol.live_state(session="s1", state="retrying", recording=True, attempt=2, retryIn=4) == {
        "type": "live.state",
        "session": "s1",
        "state": "retrying",
        "attempt": 2,
        "retryIn": 4,
        "recording": True,
    }


def test_channel_layer_messages() -> None:
    frame = protocol.member_left(account="a", session="s", reason="gone")
    text = '{"type": "member.left", "account": "a", "session": "s", "reason": "gone"}'
    assert json.loads(text) == frame
    assert protocol.room_event(frame) == {"type": "room.event", "frame": frame, "text": text, "exclude": None}
    assert protocol.room_event(frame, exclude="s") == {**protocol.room_event(frame), "exclude": "s"}
    assert protocol.member_signal(frame) == {"type": "member.signal", "frame": frame}
    assert protocol.member_replaced("s") == {"type": "member.replaced", "session": "s"}
