"""A tus client over Django's test client, for the upload, hardening and quota tests."""

from __future__ import annotations

import base64
from typing import Any

from asgiref.sync import async_to_sync
from django.test import Client

from recording.tokens import token_mint

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def bearer(account: str = "alice", channel: str = "room1", grants=("publish", "record", "upload")) -> dict[str, str]:
    return {"Authorization": "Bearer " + token_mint(account=account, channel=channel, grants=grants)}


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client: Client, *, length: int | None, metadata: str | None = None, headers=None) -> str:
    extra = {**TUS, **(headers or bearer())}
    if length is None:
        extra["Upload-Defer-Length"] = "1"
    else:
        extra["Upload-Length"] = str(length)
    if metadata is not None:
        extra["Upload-Metadata"] = metadata
    response = client.post("/api/uploads/", headers=extra)
    assert response.status_code == 201, response.content
    return response["Location"]


def patch(client: Client, location: str, offset: int, body: bytes, headers=None, **extra_headers: str):
    return client.generic(
        "PATCH",
        location,
        data=body,
        content_type=OCTETS,
        headers={**TUS, **(headers or bearer()), "Upload-Offset": str(offset), **extra_headers},
    )


def body_of(response) -> bytes:
    """The body of a streamed download (an async iterator under ASGI, as served)."""

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)()


def use_upload_dirs(settings: Any, tmp_path: Any) -> None:
    """Staging and media under the test's own directory, no transcodes."""
    settings.NETCALL_UPLOAD_STAGING_DIR = tmp_path / "staging"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.NETCALL_TRANSCODE = False
