"""A TCP proxy that can cut uploads: while `cuts_left` > 0, a connection that carries a tus PATCH (or, with
`cut_after`, more than that many request bytes) is dropped mid-body, like a network that goes away."""

from __future__ import annotations

import asyncio
import contextlib

from .proxy import LoopbackProxy

MARKER = b"PATCH /api/uploads/"


class CuttingProxy(LoopbackProxy):
    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.cuts_left = 0  # how many more PATCH connections to drop (a large number: the network is down)
        self.cut_after: int | None = None  # drop a PATCH connection after this many bytes of it
        self.cuts = 0
        super().__init__()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            client_writer.close()
            return
        upstream = asyncio.ensure_future(self._upstream(client_reader, backend_writer, client_writer))
        downstream = asyncio.ensure_future(self._pipe(backend_reader, client_writer))
        await asyncio.wait([upstream, downstream], return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_writer, backend_writer):
            with contextlib.suppress(Exception):
                writer.close()
        for task in (upstream, downstream):
            task.cancel()

    async def _upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client_writer: asyncio.StreamWriter
    ) -> None:
        tail = b""
        patch_bytes: int | None = None
        try:
            while data := await reader.read(16384):
                window = tail + data
                if MARKER in window:
                    patch_bytes = 0
                tail = window[-len(MARKER) :]
                if patch_bytes is not None:
                    patch_bytes += len(data)
                    limit = self.cut_after
                    if self.cuts_left > 0 and (limit is None or patch_bytes > limit):
                        self.cuts_left -= 1
                        if limit is not None:
                            writer.write(data[: max(0, len(data) - (patch_bytes - limit))])
                            await writer.drain()
                        self.cuts += 1
                        client_writer.transport.abort()
                        writer.transport.abort()
                        return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
