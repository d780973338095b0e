"""Large files and raw HTTP for the streaming-upload tests, without holding either in memory.

- `write_sparse_marked(path, size)`: a sparse file (costs almost no disk or time) with a distinct random
  4 KiB block at the start of every MiB, so a byte out of place changes its sha256.
- `file_sha256(path)`: read in 1 MiB pieces.
- `RssPeak(pid)`: samples a process's resident memory (`VmRSS` from /proc) in a thread; `.growth` is the
  peak above the value when sampling started.
- `RawRequest`: an HTTP/1.1 request whose body the test sends by hand, reading the answer whenever it comes.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import threading
from pathlib import Path

MIB = 1024 * 1024


def write_sparse_marked(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        out.truncate(size)
        for offset in range(0, size, MIB):
            out.seek(offset)
            out.write(os.urandom(min(4096, size - offset)))
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while data := handle.read(MIB):
            digest.update(data)
    return digest.hexdigest()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class RssPeak:
    """`with RssPeak(pid) as peak: ...` then `peak.growth`: the largest VmRSS seen above the first sample."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid = pid
        self.every = every
        self.start = rss_bytes(pid)
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def growth(self) -> int:
        return self.peak - self.start

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(self.every)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, rss_bytes(self.pid))


class RawRequest:
    """Send a request's headers now and its body piece by piece later; the answer is read when it comes."""

    def __init__(self, port: int, method: str, path: str, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin1"))
        self.sent = 0

    def send(self, data: bytes) -> bool:
        """False once the server no longer takes bytes (it closed the connection)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.sent += len(data)
        return True

    def send_zeros(self, total: int, piece: int = MIB) -> int:
        """Send `total` zero bytes (or until the server closes); returns how many went."""
        zeros = bytes(piece)
        sent = 0
        while sent < total and self.send(zeros[: min(piece, total - sent)]):
            sent += min(piece, total - sent)
        return sent

    def response(self, timeout: float = 30.0) -> http.client.HTTPResponse:
        """The answer (status and headers read; its body readable), waiting at most `timeout` seconds."""
        self.sock.settimeout(timeout)
        response = http.client.HTTPResponse(self.sock)
        response.begin()
        return response

    def close(self) -> None:
        self.sock.close()
