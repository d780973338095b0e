"""The kit's webhook_receiver checks signatures as netcall makes them (recording.live.callbacks)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from recording.live.callbacks import callback_signature
from recording.testing.webhooks import CallbackReceiver


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    started = CallbackReceiver.with_secret().start()
    yield started
    started.stop()


def post(receiver: CallbackReceiver, body: dict[str, object], *, secret: str) -> int:
    data = json.dumps(body).encode()
    timestamp = str(int(time.time()))
    headers = {"X-Netcall-Timestamp": timestamp, "X-Netcall-Signature": callback_signature(secret, timestamp, data)}
    request = urllib.request.Request(receiver.url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_signed_callback_is_returned_parsed(receiver: CallbackReceiver) -> None:
    assert receiver.secret is not None
    assert post(receiver, {"type": "other"}, secret=receiver.secret) == 200
    assert post(receiver, {"type": "live.recorded", "channel": "c"}, secret=receiver.secret) == 200
    assert receiver.wait("live.recorded", timeout=5) == {"type": "live.recorded", "channel": "c"}


def test_a_bad_signature_is_refused_and_fails_the_wait(receiver: CallbackReceiver) -> None:
    assert post(receiver, {"type": "live.recorded"}, secret="not-the-secret") == 401
    with pytest.raises(AssertionError, match="a callback with a bad signature arrived"):
        receiver.wait("live.recorded", timeout=5)


def test_no_such_callback_fails_naming_what_arrived(receiver: CallbackReceiver) -> None:
    with pytest.raises(AssertionError, match=r"no 'live.recorded' callback within 0 s; 0 received"):
        receiver.wait("live.recorded", timeout=0.2)
