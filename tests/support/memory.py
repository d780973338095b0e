"""The suite's long-recording memory measurements (tests/e2e/test_client_recording.py, bench/recording_memory.py):
a Chromium with an on-disk profile, memory sampled over CDP and /proc while a recording runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
from playwright.sync_api import Playwright

from recording.testing.browser import CHROMIUM_FLAGS, DEFAULT_TIMEOUT_MS, PROBE_JS, ParticipantPage, chromium_executable
from recording.testing.capture import MediaFiles, Participant
from recording.testing.recorder import Recorded, install, page_now, stop, wait_page_ms

LONG_START_JS = """
async ({ save, fileName }) => {
  // 'opfs': stream into a file of the origin-private file system, as 'picker' streams into the file
  // the user picks (the same FileSink); 'none': keep the recording in memory as a Blob.
  let target = save;
  if (save === 'opfs') {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(fileName).catch(() => {});
    target = await root.getFileHandle(fileName, { create: true });
  }
  try {
    const value = await window.netcall.startRecordMp4({ save: target, videoBitsPerSecond: 1_000_000 });
    return { ok: true, value };
  } catch (err) {
    return { ok: false, error: String(err && (err.code || err)), message: String(err && err.message) };
  }
}
"""


@dataclass
class MemorySample:
    seconds: float  # since the recording started (page clock)
    js_heap_mb: float  # the page's JS heap in use (CDP Performance.getMetrics)
    browser_rss_mb: float  # anonymous memory of every Chromium process of the test run
    written_mb: float  # bytes the recorder has handed to its sink


def process_memory_mb(process: psutil.Process) -> float:
    """A process's anonymous memory (Linux smaps_rollup): its own allocations, unlike RSS, USS or PSS,
    which move when other processes sharing its binary come and go. RSS elsewhere."""
    try:
        with open(f"/proc/{process.pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Anonymous:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float(process.memory_info().rss) / 2**20


def chromium_processes() -> list[psutil.Process]:
    """Every Chromium process started under this Python process."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name().lower():
                out.append(child)
        except psutil.Error:
            continue
    return out


def chromium_rss_mb() -> float:
    """Memory of every Chromium process started under this Python process (see process_memory_mb)."""
    total = 0.0
    for process in chromium_processes():
        try:
            total += process_memory_mb(process)
        except psutil.Error:
            continue
    return total


def open_persistent_participant(
    playwright: Playwright, media: MediaFiles, profile: Path, participant: Participant, base_url: str
) -> ParticipantPage:
    """A Chromium with an on-disk profile (a persistent context): its origin-private file system is on
    disk as a picked file would be. (Playwright's ordinary contexts are off the record, and Chromium keeps
    their file systems in the browser process's memory, which a memory measurement must not count.)"""
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium_executable(),
        headless=True,
        viewport={"width": 800, "height": 600},
        args=[
            *CHROMIUM_FLAGS,
            f"--use-file-for-fake-audio-capture={media.wav}",
            f"--use-file-for-fake-video-capture={media.y4m}",
        ],
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.add_init_script(PROBE_JS)
    page = context.pages[0] if context.pages else context.new_page()
    wrapper = ParticipantPage(participant=participant, base_url=base_url, context=context, page=page)
    page.on("console", wrapper._on_console)
    page.on("pageerror", wrapper._on_pageerror)
    return wrapper


def write_noise_y4m(path: Path, *, width: int = 320, height: int = 240, fps: int = 15, seconds: int = 2) -> Path:
    """A Y4M of random pixels: the encoder cannot compress it, so a recording runs at its full bit rate
    (the participants' solid colours compress to almost nothing, too little to measure memory by)."""
    rng = np.random.default_rng(7)
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii")
    with path.open("wb") as out:
        out.write(header)
        for _ in range(fps * seconds):
            out.write(b"FRAME\n")
            out.write(rng.integers(0, 256, width * height * 3 // 2, dtype=np.uint8).tobytes())
    return path


class MemoryProbe:
    """Samples a page's JS heap over CDP and the Chromium processes' memory with psutil."""

    def __init__(self, page: ParticipantPage) -> None:
        self.page = page
        self.cdp = page.context.new_cdp_session(page.page)
        self.cdp.send("Performance.enable")

    def sample(self, started_at_ms: int) -> MemorySample:
        self.cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        info = self.page.page.evaluate("() => window.netcall.getRecordings()")
        written = sum(r["size"] for r in info)
        return MemorySample(
            seconds=(page_now(self.page) - started_at_ms) / 1000,
            js_heap_mb=metrics["JSHeapUsedSize"] / 2**20,
            browser_rss_mb=chromium_rss_mb(),
            written_mb=written / 2**20,
        )


def record_long(
    page: ParticipantPage, *, save: str, seconds: int, every: int, directory: Path, name: str
) -> tuple[list[MemorySample], Recorded]:
    """Record yourself for `seconds` (page clock) with `save` ('opfs' or 'none'), sampling memory every `every` s."""
    install(page)
    started = page.page.evaluate(LONG_START_JS, {"save": save, "fileName": f"{name}.mp4"})
    assert started["ok"], started
    t0 = int(started["value"]["startedAt"])
    probe = MemoryProbe(page)
    samples = [probe.sample(t0)]
    for mark in range(every, seconds + 1, every):
        wait_page_ms(page, t0, mark * 1000)
        samples.append(probe.sample(t0))
    recorded = stop(page, "stopRecordMp4", directory=directory, name=name)
    return samples, recorded
