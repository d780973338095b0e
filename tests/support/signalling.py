"""Helpers for consumer tests: a connected WebSocket client speaking the netcall protocol."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from channels.testing import WebsocketCommunicator
from django.db.backends.utils import CursorWrapper
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from netcall_site.asgi import application
from recording.tokens import token_mint

_ids = itertools.count(1)
# A browser on the page this server serves: the origin check compares scheme, host and port.
HOST, ORIGIN = b"127.0.0.1:8000", b"http://127.0.0.1:8000"


class Client:
    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator

    @classmethod
    async def connect(cls, origin: bytes = b"http://127.0.0.1:8000") -> Client:
        communicator = WebsocketCommunicator(
            application, "/ws/netcall/", headers=[(b"origin", origin), (b"host", HOST)]
        )
        connected, _ = await communicator.connect()
        assert connected
        return cls(communicator)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_to(text_data=json.dumps(frame))

    async def receive(self, timeout: float = 3) -> dict[str, Any]:
        return json.loads(await self.ws.receive_from(timeout=timeout))

    async def request(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Send a request and return its ack or error, skipping events that arrive in between."""
        request_id = next(_ids)
        await self.send({"type": type_, "id": request_id, **fields})
        while True:
            frame = await self.receive()
            if frame.get("id") == request_id:
                return frame

    async def expect(self, type_: str, timeout: float = 3) -> dict[str, Any]:
        """The next frame of this type, skipping others."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] == type_:
                return frame

    async def join(
        self, account: str, channel: str, *, grants: tuple[str, ...] = ("publish", "record"), **token_args: Any
    ) -> dict[str, Any]:
        """Join with a token granting `grants` (these tests publish and announce recordings)."""
        token = token_mint(account=account, channel=channel, grants=grants, **token_args)
        reply = await self.request("join", token=token, channel=channel, media={"audio": True, "video": True})
        assert reply["type"] == "ack", reply
        return reply["data"]

    async def nothing_more(self) -> bool:
        return await self.ws.receive_nothing(timeout=0.3)

    async def closed_with(self, timeout: float = 3) -> int:
        """The close code the server closed this socket with (frames before it are skipped)."""
        while True:
            output = await self.ws.receive_output(timeout=timeout)
            if output["type"] == "websocket.close":
                return int(output.get("code", 1000))

    async def close(self) -> None:
        await self.ws.disconnect()


async def joined(account: str, channel: str) -> Client:
    client = await Client.connect()
    await client.join(account, channel)
    return client


@contextmanager
def database_queries() -> Iterator[list[str]]:
    """Every SQL statement run while in the block, from any thread (the consumers' database thread
    included, unlike `django_assert_num_queries`, which watches the calling thread's connection only)."""
    statements: list[str] = []
    execute, executemany = CursorWrapper.execute, CursorWrapper.executemany

    def recording_execute(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        statements.append(sql)
        return execute(self, sql, params)

    def recording_executemany(self: CursorWrapper, sql: str, param_list: Any) -> Any:
        statements.append(sql)
        return executemany(self, sql, param_list)

    CursorWrapper.execute = recording_execute  # type: ignore[method-assign,assignment]
    CursorWrapper.executemany = recording_executemany  # type: ignore[method-assign,assignment]
    try:
        yield statements
    finally:
        CursorWrapper.execute = execute  # type: ignore[method-assign]
        CursorWrapper.executemany = executemany  # type: ignore[method-assign]


class RemoteSocket:
    """What `Client` uses of Channels' WebsocketCommunicator, over a real WebSocket to a running server."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, base_url: str) -> Client:
        url = base_url.replace("http://", "ws://") + "/ws/netcall/"
        ws = await connect(url, origin=base_url, ping_interval=None)  # type: ignore[arg-type]  # the exact origin
        return Client(cls(ws))  # type: ignore[arg-type]

    async def send_to(self, *, text_data: str) -> None:
        await self.ws.send(text_data)

    async def receive_from(self, timeout: float) -> str:
        return str(await asyncio.wait_for(self.ws.recv(), timeout))

    async def receive_output(self, timeout: float) -> dict[str, Any]:
        try:
            return {"type": "websocket.send", "text": await asyncio.wait_for(self.ws.recv(), timeout)}
        except ConnectionClosed:
            return {"type": "websocket.close", "code": self.ws.close_code}

    async def receive_nothing(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            return True
        return False

    async def disconnect(self) -> None:
        await self.ws.close()
