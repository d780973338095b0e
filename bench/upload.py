"""Upload throughput: a 1 GiB tus upload to the server against a plain local file copy of the same bytes.

    .venv/bin/python -m bench.upload [--mib 1024] [--chunk-mib 8] [--checksum]

One Daphne process (the embedded default: SQLite, in-memory channel layer; the job worker off, so that
finishing the upload does not compete with the next measurement) on this machine; the client is the stock
`tuspy` client in this process, PATCHing 8 MiB chunks over loopback. The file is random bytes in a temporary
directory (in the page cache: both sides read it from memory). Measured:

- the upload's wall time, split into the transfer (every PATCH but the last) and the last PATCH, which
  also completes the upload on the server (sha256 of the whole file, copy into storage);
- the server process's resident memory, sampled every 20 ms (psutil), before and at its peak;
- the server's CPU seconds.

Baselines in the same run (median of three): `shutil.copyfile` of the same file in the same directory,
and the same copy followed by `fsync` (the server fsyncs every PATCH before it acknowledges it).
Everything is written under one temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from tusclient import client as tus_client

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.server import start_daphne  # noqa: E402

MIB = 1024 * 1024


@dataclass
class Peak:
    """Samples a process's RSS in a thread until stopped."""

    pid: int
    every: float = 0.02
    peak: int = 0

    def __post_init__(self) -> None:
        self._process = psutil.Process(self.pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for _ in range(size // MIB):
            out.write(os.urandom(MIB))
        out.flush()
        os.fsync(out.fileno())  # no writeback of the source left to slow the first measurement


def copy_baseline(source: Path, target: Path, *, fsync: bool) -> float:
    started = time.perf_counter()
    shutil.copyfile(source, target)
    if fsync:
        with target.open("rb+") as handle:
            os.fsync(handle.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def upload(base_url: str, token: str, source: Path, chunk: int, checksum: bool) -> tuple[float, float, str]:
    """(transfer seconds, last PATCH seconds, the upload's URL)."""
    client = tus_client.TusClient(base_url + "/api/uploads/", headers={"Authorization": f"Bearer {token}"})
    uploader = client.uploader(
        file_path=str(source),
        chunk_size=chunk,
        metadata={"filename": "bench.bin", "filetype": "video/webm"},
        upload_checksum=checksum,
    )
    size = source.stat().st_size
    started = time.perf_counter()
    uploader.set_url(uploader.create_url())
    while uploader.offset + chunk < size:
        uploader.upload_chunk()
    transferred = time.perf_counter()
    uploader.upload_chunk()  # the last: the server completes the upload before it answers
    assert uploader.offset == size, (uploader.offset, size)
    return transferred - started, time.perf_counter() - transferred, str(uploader.url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the file, MiB")
    parser.add_argument("--chunk-mib", type=int, default=8, help="PATCH size, MiB")
    parser.add_argument("--checksum", action="store_true", help="send Upload-Checksum (sha1) with every PATCH")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    size, chunk = args.mib * MIB, args.chunk_mib * MIB
    with tempfile.TemporaryDirectory(prefix="netcall-bench-upload-") as tmp:
        root = Path(tmp)
        source = root / "source.bin"
        write_random(source, size)
        copy_seconds = statistics.median(copy_baseline(source, root / "copy.bin", fsync=False) for _ in range(3))
        copy_fsync_seconds = statistics.median(copy_baseline(source, root / "copy.bin", fsync=True) for _ in range(3))
        server = start_daphne(
            root / "server",
            {
                "DJANGO_SETTINGS_MODULE": "netcall_site.settings",
                "NETCALL_JOBS_IN_PROCESS": "0",
                "NETCALL_LOG_LEVEL": "WARNING",
                "NETCALL_MEDIA_ROOT": str(root / "media"),
                "NETCALL_UPLOAD_STAGING_DIR": str(root / "staging"),
            },
        )
        try:
            token = server.mint_token("bench", "bench", grants=["upload"])
            process = psutil.Process(server.process.pid)
            rss_before = process.memory_info().rss
            cpu_before = sum(process.cpu_times()[:2])
            client_before = sum(psutil.Process().cpu_times()[:2])
            with Peak(server.process.pid) as peak:
                transfer, last, url = upload(server.url, token, source, chunk, args.checksum)
            cpu = sum(process.cpu_times()[:2]) - cpu_before
            client_cpu = sum(psutil.Process().cpu_times()[:2]) - client_before
        finally:
            server.stop()
    total = transfer + last
    mib = size / MIB
    results = {
        "size_mib": mib,
        "chunk_mib": args.chunk_mib,
        "checksum": args.checksum,
        "upload_seconds": total,
        "upload_transfer_seconds": transfer,
        "upload_last_patch_seconds": last,
        "upload_mib_s": mib / total,
        "upload_transfer_mib_s": mib / transfer,
        "copy_seconds": copy_seconds,
        "copy_mib_s": mib / copy_seconds,
        "copy_fsync_seconds": copy_fsync_seconds,
        "copy_fsync_mib_s": mib / copy_fsync_seconds,
        "server_cpu_seconds": cpu,
        "client_cpu_seconds": client_cpu,
        "server_rss_before_mib": rss_before / MIB,
        "server_rss_peak_mib": peak.peak / MIB,
        "upload_url": url,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{mib:.0f} MiB, {args.chunk_mib} MiB PATCHes{', sha1 per PATCH' if args.checksum else ''}\n")
    print("| measure | netcall (tus) | baseline | ratio |\n| --- | --- | --- | --- |")
    print(
        f"| throughput, whole upload | {mib / total:.0f} MiB/s ({total:.1f} s) | "
        f"{mib / copy_seconds:.0f} MiB/s ({copy_seconds:.2f} s, `shutil.copyfile`) | {copy_seconds / total:.2f} |"
    )
    print(
        f"| throughput, whole upload | {mib / total:.0f} MiB/s | {mib / copy_fsync_seconds:.0f} MiB/s "
        f"({copy_fsync_seconds:.2f} s, copy + fsync) | {copy_fsync_seconds / total:.2f} |"
    )
    print(
        f"| throughput, transfer only (all PATCHes but the last) | {mib / transfer:.0f} MiB/s | "
        f"{mib / copy_seconds:.0f} MiB/s (`shutil.copyfile`) | {copy_seconds / transfer:.2f} |"
    )
    print(f"| last PATCH (sha256 of the file + copy into storage) | {last:.1f} s | | |")
    print(
        f"| server RSS | {rss_before / MIB:.0f} MiB before, {peak.peak / MIB:.0f} MiB peak "
        f"(+{(peak.peak - rss_before) / MIB:.0f} MiB) | file: {mib:.0f} MiB | "
        f"{(peak.peak - rss_before) / size:.4f} of the file |"
    )
    print(f"| server CPU | {cpu:.1f} s ({cpu / mib * 1024:.1f} s per GiB) | client (tuspy): {client_cpu:.1f} s | |")


if __name__ == "__main__":
    main()
