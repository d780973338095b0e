"""Baseline for the idle-cost benchmark: the barest ASGI WebSocket app (accept, echo), served by uvicorn set up
exactly as netcall's server is (`netcall_site.serve.uvicorn_options`), so the two differ only in the
application. Run: `python -m bench.bare_asgi PORT`."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from netcall_site.serve import uvicorn_options


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        return
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif event["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": event.get("text")})
        else:
            return


if __name__ == "__main__":
    uvicorn.run(application, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", **uvicorn_options())  # type: ignore[arg-type]
