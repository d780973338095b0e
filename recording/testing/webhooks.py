"""A callback (webhook) receiver for tests: a local HTTP server the netcall server posts its signed
callbacks to (README "Server recording"). It can fail its first N requests (to see retries), verifies
each request's signature when it knows the secret, and `wait(event_type)` returns a parsed body."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_TOLERANCE_SECONDS = 300


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, as netcall signs a callback."""
    return "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    signature_ok: bool | None = None  # None: no secret to check against

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CallbackReceiver:
    fail_first: int = 0
    secret: str | None = None
    requests: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    _arrived: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @classmethod
    def with_secret(cls) -> CallbackReceiver:
        """A receiver with a fresh random secret (give it to the server as NETCALL_CALLBACK_SECRET)."""
        return cls(secret=secrets.token_urlsafe(24))

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/netcall/callback"

    @property
    def server_env(self) -> dict[str, str]:
        """The settings that point a netcall server at this receiver."""
        env = {"NETCALL_CALLBACK_URL": self.url}
        if self.secret is not None:
            env["NETCALL_CALLBACK_SECRET"] = self.secret
        return env

    @property
    def acknowledged(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.answered < 300]

    def _verify(self, headers: dict[str, str], body: bytes) -> bool | None:
        if self.secret is None:
            return None
        timestamp = headers.get("X-Netcall-Timestamp", "")
        signature = headers.get("X-Netcall-Signature", "")
        try:
            fresh = abs(time.time() - int(timestamp)) <= SIGNATURE_TOLERANCE_SECONDS
        except ValueError:
            return False
        return fresh and hmac.compare_digest(expected_signature(self.secret, timestamp, body), signature)

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = dict(self.headers.items())
                signature_ok = receiver._verify(headers, body)
                status = 401 if signature_ok is False else 503 if len(receiver.requests) < receiver.fail_first else 200
                with receiver._arrived:
                    receiver.requests.append(Received(headers, body, status, signature_ok))
                    receiver._arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def wait(self, event_type: str, timeout: float = 60.0) -> dict[str, Any]:
        """The parsed body of the first callback of `event_type` (e.g. "live.recorded"); fails the test if a
        callback with a bad signature arrived, or none of that type within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                bad = [r for r in self.requests if r.signature_ok is False]
                if bad:
                    raise AssertionError(
                        f"a callback with a bad signature arrived: {bad[0].headers.get('X-Netcall-Signature')!r} "
                        f"(timestamp {bad[0].headers.get('X-Netcall-Timestamp')!r})"
                    )
                for request in self.requests:
                    try:
                        body = request.json()
                    except ValueError:
                        continue
                    if isinstance(body, dict) and body.get("type") == event_type:
                        return body
                left = deadline - time.monotonic()
                if left <= 0:
                    types = [r.headers.get("X-Netcall-Event-Id") for r in self.requests]
                    raise AssertionError(
                        f"no {event_type!r} callback within {timeout:.0f} s; {len(self.requests)} received {types}"
                    )
                self._arrived.wait(left)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
