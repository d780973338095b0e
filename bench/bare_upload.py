"""Ceiling for the upload benchmark: the barest ASGI app that takes a tus-like upload, served by the same
uvicorn as netcall (`python -m netcall_site.serve --app bench.bare_upload:application`).

POST /api/uploads/ makes an empty file in NETCALL_UPLOAD_STAGING_DIR and answers its Location; PATCH writes
each `http.request` message at Upload-Offset with `os.write` on the event loop and fsyncs at the end, then
answers 204. No authentication, database, hashing or threads: what Python under this server costs to move
a body to the disk, nothing else. Any other request: 200 "ok".
"""

from __future__ import annotations

import os
import uuid
from typing import Any

STAGING = os.environ.get("NETCALL_UPLOAD_STAGING_DIR", "/tmp")


async def _answer(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Any) -> None:
    while (await receive()).get("more_body"):
        pass


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    if method == "POST" and path == "/api/uploads/":
        await _drain(receive)
        os.makedirs(STAGING, exist_ok=True)
        name = uuid.uuid4().hex
        open(os.path.join(STAGING, name), "xb").close()
        await _answer(send, 201, [(b"location", f"http://127.0.0.1/api/uploads/{name}".encode())])
        return
    if method == "PATCH" and path.startswith("/api/uploads/"):
        offset = int(dict(scope["headers"])[b"upload-offset"])
        fd = os.open(os.path.join(STAGING, os.path.basename(path)), os.O_WRONLY)
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                body = message.get("body", b"")
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
                offset += len(body)
                if not message.get("more_body"):
                    break
            os.fsync(fd)
        finally:
            os.close(fd)
        await _answer(send, 204, [(b"upload-offset", str(offset).encode())])
        return
    await _drain(receive)
    await _answer(send, 200, [], b"ok")
