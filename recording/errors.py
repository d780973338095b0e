"""The one error model: every error a client is told about has a stable `code`, a human `message` and the
HTTP status it is answered with. The WebSocket protocol, tokens, rooms and tus raise subclasses; the
consumer catches `NetcallError` and sends an `error` frame, HTTP views render it with
`recording.web.api_errors` as `{"error": {"code", "message"}}`."""

from __future__ import annotations


class NetcallError(Exception):
    """A request refused for a reason the client can act on."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, status={self.status})"
