"""Upload throughput: a 1 GiB tus upload in one PATCH and in 8 MiB PATCHes, each beside `cp` + `fsync` of the
same file to the same disk, in the same run.

    .venv/bin/python -m bench.upload [--mib 1024] [--chunk-mib 8] [--rounds 3] [--server netcall|daphne]
                                     [--no-ceiling] [--unsynced] [--floor] [--one-patch-only]

The server is started as `make run` starts it (`python -m netcall_site.serve`: uvicorn; `--server daphne`
starts stock Daphne on the same application, for comparison), the embedded default (SQLite, in-memory
channel layer) with its job worker off so that the decode check of a finished file does not overlap the
next measurement. A fresh server per upload. The file is random bytes in a temporary directory, fsynced
first, so both sides read it from the page cache; the server's staging and storage directories are on the
same disk. The client sends each PATCH body with `sendfile` (zero-copy) over one keep-alive connection, so
nearly all the CPU measured is the server's. Measured per upload:

- wall time from the creation POST to the answer of the last PATCH, which also completes the upload on
  the server (its sha256, computed while writing; the file moved into storage);
- the server process's CPU seconds (every thread) and its peak RSS above idle (sampled every 20 ms);

and beside each upload, in the same round:

- `cp SOURCE TARGET` followed by one `fsync(TARGET)` of the same file in the same directory;
- the same copy with an fsync after every chunk of the PATCH size (`copy_file_range` of one chunk, then
  `fsync`): what a copy that makes each chunk durable before the next, as the server does before it
  answers each PATCH, costs on this disk (for one PATCH it is the same as the line above);
- unless `--no-ceiling`, the same upload to the same uvicorn serving bench/bare_upload.py, an app that only
  writes each ASGI message and fsyncs: what this server and Python cost before netcall does anything;
- with `--unsynced`, the same upload to netcall without the fsync that ends each PATCH
  (bench/upload_unsynced.py): the most that deferring it could gain. It and netcall take turns going first;
- with `--floor`, the same requests over loopback TCP to a receiver written in C (bench/upload_floor.c,
  compiled here with `cc`): socket → 256 KiB buffer → `write`, `fsync` at the end of each request, a
  one-byte answer before the sender sends the next. No Python, no HTTP: what this machine allows over a
  socket, the floor under any server.

Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from recording.testing.server import DaphneServer, start_daphne  # noqa: E402
from tests.support.bigfiles import RssPeak  # noqa: E402

MIB = 1024 * 1024


def write_random(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(size // MIB):
            block = os.urandom(MIB)
            digest.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())  # no writeback of the source left to slow the first measurement
    return digest.hexdigest()


def cp_fsync(source: Path, target: Path) -> float:
    subprocess.run(["sync"], check=True)  # start from clean page-cache writeback, as the upload does
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def copy_fsync_every(source: Path, target: Path, chunk: int) -> float:
    """`source` copied to `target` in the kernel (`copy_file_range`, as `cp` does), `fsync` after each chunk."""
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    with source.open("rb") as src, target.open("xb") as dst:
        size = os.fstat(src.fileno()).st_size
        copied = 0
        while copied < size:
            count = min(chunk, size - copied)
            while count:
                done = os.copy_file_range(src.fileno(), dst.fileno(), count)
                if done == 0:
                    raise OSError(f"{source} ended at {copied} of {size} bytes")
                copied, count = copied + done, count - done
            os.fsync(dst.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def build_floor(directory: Path) -> Path | None:
    """bench/upload_floor.c compiled into `directory`, or None (with a note) where there is no C compiler."""
    binary = directory / "upload_floor"
    try:
        subprocess.run(["cc", "-O2", "-o", str(binary), str(REPO / "bench" / "upload_floor.c")], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"--floor: cannot compile bench/upload_floor.c ({exc}): no floor measured", file=sys.stderr)
        return None
    return binary


def floor_copy(binary: Path, source: Path, target: Path, chunk: int) -> tuple[float, float]:
    """The C receiver's time and CPU seconds for `source` in requests of `chunk` bytes, each fsynced."""
    subprocess.run(["sync"], check=True)
    done = subprocess.run(
        [str(binary), str(source), str(target), str(chunk)], check=True, capture_output=True, text=True
    )
    target.unlink()
    elapsed, cpu = done.stdout.split()
    return float(elapsed), float(cpu)


class TusConnection:
    """A minimal tus client on one keep-alive connection; PATCH bodies go with `socket.sendfile`."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=300)

    def _request(self, method: str, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Tus-Resumable: 1.0.0"]
        head += [f"Authorization: Bearer {self.token}", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin1"))
        return http.client.HTTPResponse(self.sock)

    @staticmethod
    def _answer(response: http.client.HTTPResponse, status: int) -> http.client.HTTPResponse:
        response.begin()
        body = response.read()
        assert response.status == status, (response.status, body)
        return response

    def create(self, size: int) -> str:
        metadata = (
            f"filename {base64.b64encode(b'bench.bin').decode()},filetype {base64.b64encode(b'video/webm').decode()}"
        )
        response = self._request(
            "POST", "/api/uploads/", {"Upload-Length": str(size), "Upload-Metadata": metadata, "Content-Length": "0"}
        )
        location = self._answer(response, 201).headers["Location"]
        return "/" + location.split("/", 3)[3]

    def patch(self, path: str, source: Path, offset: int, count: int) -> http.client.HTTPResponse:
        headers = {
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(count),
        }
        response = self._request("PATCH", path, headers)
        with source.open("rb") as handle:
            self.sock.sendfile(handle, offset, count)
        return self._answer(response, 204)

    def close(self) -> None:
        self.sock.close()


@dataclass
class Result:
    seconds: float
    server_cpu: float
    rss_growth_mib: float
    patches: int


def upload_once(root: Path, source: Path, sha256: str, chunk: int, server_kind: str) -> Result:
    size = source.stat().st_size
    server: DaphneServer = start_daphne(
        root / "server",
        {
            "DJANGO_SETTINGS_MODULE": "netcall_site.settings",
            "NETCALL_JOBS_IN_PROCESS": "0",
            "NETCALL_LOG_LEVEL": "WARNING",
            "NETCALL_SERVER_LOG_LEVEL": "warning",
            "NETCALL_MEDIA_ROOT": str(root / "media"),
            "NETCALL_UPLOAD_STAGING_DIR": str(root / "staging"),
            "NETCALL_UPLOAD_MAX_SIZE": str(max(size, 8 * 1024**3)),
        },
        server=server_kind,
    )
    try:
        # The bare app takes no token (and has no token API to mint one).
        token = "bare" if server_kind == "bare" else server.mint_token("bench", "bench", grants=["upload"])
        warm = TusConnection(server.port, token)
        warm.patch(warm.create(MIB), source, 0, MIB)  # code paths loaded before measuring
        warm.close()
        subprocess.run(["sync"], check=True)
        process = psutil.Process(server.process.pid)
        cpu_before = sum(process.cpu_times()[:4])
        client = TusConnection(server.port, token)
        with RssPeak(server.process.pid) as rss:
            started = time.perf_counter()
            path = client.create(size)
            offset, patches = 0, 0
            while offset < size:
                count = min(chunk, size - offset)
                response = client.patch(path, source, offset, count)
                offset, patches = offset + count, patches + 1
            elapsed = time.perf_counter() - started
        client.close()
        cpu = sum(process.cpu_times()[:4]) - cpu_before
        if server_kind != "bare":
            assert response.headers["Netcall-Recording-Sha256"] == sha256, "the server's sha256 differs"
        return Result(elapsed, cpu, rss.growth / MIB, patches)
    finally:
        server.stop()
        for directory in ("media", "staging", "server"):
            subprocess.run(["rm", "-rf", str(root / directory)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the file, MiB")
    parser.add_argument(
        "--chunk-mib", type=float, default=8, help="PATCH size of the chunked upload, MiB (0.25: 256 KiB)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="uploads of each kind (medians reported)")
    parser.add_argument("--server", choices=("netcall", "daphne"), default="netcall")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the bare app under the same server")
    parser.add_argument("--unsynced", action="store_true", help="also netcall without its fsync per PATCH")
    parser.add_argument("--floor", action="store_true", help="also a C receiver over loopback (no Python)")
    parser.add_argument("--one-patch-only", action="store_true", help="only the upload in one PATCH (memory)")
    args = parser.parse_args()
    size = args.mib * MIB
    kinds = {"one PATCH": size, f"{args.chunk_mib:g} MiB PATCHes": int(args.chunk_mib * MIB)}
    if args.one_patch_only:
        del kinds[f"{args.chunk_mib:g} MiB PATCHes"]
    with tempfile.TemporaryDirectory(prefix="netcall-bench-upload-", dir=REPO / "var") as tmp:
        root = Path(tmp)
        source = root / "source.bin"
        sha256 = write_random(source, size)
        floor_binary = build_floor(root) if args.floor else None
        rows = []
        for name, chunk in kinds.items():
            runs: dict[str, list[Result]] = {"netcall": [], "bare": [], "unsynced": []}
            copies: list[float] = []
            chunked_copies: list[float] = []
            floors: list[tuple[float, float]] = []
            for round_ in range(args.rounds):
                copies.append(cp_fsync(source, root / "copy.bin"))  # beside each upload, same disk
                chunked_copies.append(copy_fsync_every(source, root / "copy.bin", chunk))
                if floor_binary is not None:
                    floors.append(floor_copy(floor_binary, source, root / "copy.bin", chunk))
                servers = [args.server, "unsynced"] if args.unsynced else [args.server]
                for server in servers if round_ % 2 == 0 else servers[::-1]:  # neither always goes first
                    runs["unsynced" if server == "unsynced" else "netcall"].append(
                        upload_once(root, source, sha256, chunk, server)
                    )
                if not args.no_ceiling:
                    runs["bare"].append(upload_once(root, source, sha256, chunk, "bare"))
                line = f"{name}: {runs['netcall'][-1]} / cp+fsync {copies[-1]:.2f} s"
                line += f" / fsync every chunk {chunked_copies[-1]:.2f} s"
                line += f" / C floor {floors[-1][0]:.2f} s" if floors else ""
                others = [(kind, r[-1].seconds) for kind, r in runs.items() if kind != "netcall" and r]
                line += "".join(f" / {kind} {elapsed:.2f} s" for kind, elapsed in others)
                print(line, file=sys.stderr, flush=True)
            rows.append(_row(f"{name} ({runs['netcall'][0].patches})", args.mib, runs, copies, chunked_copies, floors))
    print(f"{args.mib} MiB, server: {args.server}, medians of {args.rounds}\n")
    print(
        "| upload | netcall (tus) | netcall, no fsync per PATCH | bare app, same server | `cp` + `fsync` "
        "| `cp`, `fsync` every chunk | C over loopback | ratio to `cp` + `fsync` | ratio to `cp`, `fsync` every chunk "
        "| bare app ratio | C ratio | server CPU per GiB (no fsync; bare app; C) | server RSS peak |"
    )
    print("|" + " --- |" * 13)
    print("\n".join(rows))


def _row(
    name: str,
    mib: int,
    runs: dict[str, list[Result]],
    copies: list[float],
    chunked: list[float],
    floors: list[tuple[float, float]],
) -> str:
    gib = mib / 1024

    def seconds(kind: str) -> float | None:
        return statistics.median(r.seconds for r in runs[kind]) if runs[kind] else None

    def cpu(kind: str) -> str:
        return f"{statistics.median(r.server_cpu for r in runs[kind]) / gib:.2f} s" if runs[kind] else "-"

    def speed(elapsed: float | None) -> str:
        return f"{mib / elapsed:.0f} MiB/s ({elapsed:.2f} s)" if elapsed else "-"

    netcall, unsynced, bare = seconds("netcall"), seconds("unsynced"), seconds("bare")
    assert netcall is not None
    copy, copy_every = statistics.median(copies), statistics.median(chunked)
    floor = statistics.median(f[0] for f in floors) if floors else None
    floor_cpu = f"{statistics.median(f[1] for f in floors) / gib:.2f} s" if floors else "-"
    rss = max(r.rss_growth_mib for r in runs["netcall"])
    cells = [
        name,
        speed(netcall),
        speed(unsynced),
        speed(bare),
        speed(copy),
        speed(copy_every),
        speed(floor),
        f"**{copy / netcall:.2f}**",
        f"{copy_every / netcall:.2f}",
        f"{copy / bare:.2f}" if bare else "-",
        f"{copy / floor:.2f}" if floor else "-",
        f"{cpu('netcall')} ({cpu('unsynced')}; {cpu('bare')}; {floor_cpu})",
        f"+{rss:.1f} MiB",
    ]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
