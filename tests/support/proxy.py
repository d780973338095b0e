"""TCP proxies on loopback for the end-to-end tests, each running its own event loop in a thread.

- `FailoverProxy`: a tiny load balancer; each new connection goes to the first backend that accepts it,
  in the proxy's order of preference, like a proxy with health checks (scale-out tests).
- `tests.support.cutproxy.CuttingProxy`: drops uploads mid-body (network-cut tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence

from recording.testing.server import free_port


class LoopbackProxy:
    """The shared machinery: a listening socket on a free port, served from a background thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class FailoverProxy(LoopbackProxy):
    def __init__(self, backend_ports: Sequence[int]) -> None:
        self.backend_ports = list(backend_ports)
        self.connections: dict[int, int] = {port: 0 for port in self.backend_ports}
        super().__init__()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        for port in self.backend_ports:
            try:
                backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # that backend is down: try the next one
            self.connections[port] += 1
            await asyncio.gather(self._pipe(client_reader, backend_writer), self._pipe(backend_reader, client_writer))
            return
        client_writer.close()
