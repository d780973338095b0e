"""Memory of a long client recording: streamed to a file (save: 'picker' / a file handle) beside
kept in memory (save: 'none'), in a real Chromium (on-disk profile) recording its own camera (random pixels, so the
encoder cannot compress them away) at 1 Mbit/s requested.

Every `--every` seconds: the page's JS heap (CDP, after a forced GC), and the anonymous memory (smaps_rollup) of each
Chromium process by type (browser, renderer, GPU, utility), and the bytes written so far.

Run: `.venv/bin/python -m bench.recording_memory [--minutes 5] [--every 30]`; prints Markdown tables.
The figures in docs/performance.md come from this script.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import psutil
from playwright.sync_api import sync_playwright

from recording.testing import recorder as rec
from recording.testing.capture import ALICE, MediaFiles, media_files_for
from recording.testing.media import header_duration
from recording.testing.server import start_daphne
from tests.support import memory


def memory_by_type() -> dict[str, float]:
    """Anonymous memory in MiB of this run's Chromium processes, by --type (browser: the main process)."""
    out: dict[str, float] = {}
    for process in memory.chromium_processes():
        try:
            match = re.search(r"--type=([\w-]+)", " ".join(process.cmdline()))
            kind = match.group(1) if match else "browser"
            out[kind] = out.get(kind, 0.0) + memory.process_memory_mb(process)
        except psutil.Error:
            continue
    return out


def run(save: str, seconds: int, every: int, workdir: Path, base_url: str, media: MediaFiles) -> list[str]:
    rows = []
    with sync_playwright() as playwright:
        page = memory.open_persistent_participant(playwright, media, workdir / f"profile-{save}", ALICE, base_url)
        try:
            page.join(f"bench-{save}-{int(time.time())}")
            rec.install(page)
            started = page.page.evaluate(memory.LONG_START_JS, {"save": save, "fileName": "bench.mp4"})
            assert started["ok"], started
            t0 = int(started["value"]["startedAt"])
            probe = memory.MemoryProbe(page)
            first: dict[str, float] | None = None
            for mark in range(0, seconds + 1, every):
                if mark:
                    rec.wait_page_ms(page, t0, mark * 1000)
                sample = probe.sample(t0)
                kinds = memory_by_type()
                first = first or kinds
                total = sum(kinds.values())
                rows.append(
                    f"| {save} | {sample.seconds:6.0f} | {sample.written_mb:7.1f} | {sample.js_heap_mb:6.2f} | "
                    f"{kinds.get('browser', 0):7.1f} | {kinds.get('renderer', 0):7.1f} | "
                    f"{kinds.get('gpu-process', 0):6.1f} | {kinds.get('utility', 0):7.1f} | {total:7.1f} |"
                )
                print(rows[-1], flush=True)
            recorded = rec.stop(page, "stopRecordMp4", directory=workdir, name=f"bench-{save}")
            header = header_duration(recorded.path)
            rows.append(
                f"| {save} | file: {recorded.meta['size'] / 2**20:.1f} MiB, header duration "
                f"{header:.1f} s, saved as '{recorded.meta['saved']}' | | | | | | | |"
            )
        finally:
            page.context.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--every", type=int, default=30)
    parser.add_argument("--sinks", default="opfs,none", help="comma list of 'opfs' (streamed) and 'none' (Blob)")
    args = parser.parse_args()
    seconds = int(args.minutes * 60)
    with tempfile.TemporaryDirectory(prefix="netcall-bench-") as tmp:
        workdir = Path(tmp)
        server = start_daphne(workdir / "server")
        try:
            media = MediaFiles(
                wav=media_files_for(ALICE, workdir).wav, y4m=memory.write_noise_y4m(workdir / "noise.y4m")
            )
            header = (
                "| sink | s | written MiB | JS heap MiB | browser MiB | renderer MiB | GPU MiB | utility MiB "
                "| all Chromium MiB |\n|---|---|---|---|---|---|---|---|---|"
            )
            print(header)
            rows: list[str] = []
            for save in args.sinks.split(","):
                rows += run(save, seconds, args.every, workdir, server.url, media)
        finally:
            server.stop()
    print("\n" + header + "\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
