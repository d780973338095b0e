"""Helpers for the client-recording tests: drive the SDK's recording API in a page, fetch the file,
and check it by decoding it (PyAV + numpy): header duration, codecs, tones, colour."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil
from playwright.sync_api import Playwright

from .browser import CHROMIUM_FLAGS, DEFAULT_TIMEOUT_MS, PROBE_JS, ParticipantPage, chromium_executable
from .media import MediaFiles, Participant

RECORD_TIMEOUT_MS = 60_000

# Page-side helpers, installed once per page (idempotent). Results are kept in window.__rec by name;
# files come back as base64 (FileReader, so no string building in JS).
INSTALL_JS = """
() => {
  if (window.__rec) return;
  const toBase64 = (blob) => new Promise((resolve, reject) => {
    const reader = new FileReader();
    // The data URL's type may hold commas (codecs=avc3,opus): cut after ';base64,'.
    reader.onload = () => { const url = String(reader.result); resolve(url.slice(url.indexOf(';base64,') + 8)); };
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
  const describe = (err) => ({ error: (err && (err.code || err.name)) || String(err), name: err && err.name,
                               message: err && err.message });
  window.__rec = {
    results: {},
    async call(method, args) {
      try {
        const value = await window.netcall[method](...args);
        return { ok: true, value: value ?? null, at: Date.now() };
      } catch (err) {
        return { ok: false, ...describe(err), at: Date.now() };
      }
    },
    async stop(name, method, args) {
      const out = await window.__rec.call(method, args);
      if (!out.ok) return out;
      const { blob, ...meta } = out.value;
      window.__rec.results[name] = out.value;
      return { ok: true, at: out.at, meta: { ...meta, blobSize: blob.size, blobType: blob.type } };
    },
    async fetch(name) {
      return toBase64(window.__rec.results[name].blob);
    },
  };
}
"""


def install(page: ParticipantPage) -> None:
    page.page.evaluate(INSTALL_JS)


def call(page: ParticipantPage, method: str, *args: Any) -> dict[str, Any]:
    """Call `netcall[method](...args)`; {'ok': True, 'value', 'at'} or {'ok': False, 'error': code, ...}."""
    install(page)
    result: dict[str, Any] = page.page.evaluate(
        "([method, args]) => window.__rec.call(method, args)", [method, list(args)]
    )
    return result


def start(page: ParticipantPage, method: str, *args: Any) -> dict[str, Any]:
    """Start a recording; fail the test if it does not start. Returns the start result."""
    result = call(page, method, *args)
    assert result["ok"], f"{page.account}: {method}{args} failed: {result}"
    value: dict[str, Any] = result["value"]
    return value


@dataclass
class Recorded:
    """A finished recording fetched from the page."""

    meta: dict[str, Any]
    path: Path
    stopped_at: int  # page clock (ms since epoch) when stop resolved

    @property
    def duration(self) -> float:
        return float(self.meta["duration"])


def stop(page: ParticipantPage, method: str, *args: Any, directory: Path, name: str) -> Recorded:
    """Stop a recording, fetch its Blob, write it under `directory`, return what stop resolved with."""
    install(page)
    out: dict[str, Any] = page.page.evaluate(
        "([name, method, args]) => window.__rec.stop(name, method, args)", [name, method, list(args)]
    )
    assert out["ok"], f"{page.account}: {method}{args} failed: {out}"
    data = base64.b64decode(page.page.evaluate("(name) => window.__rec.fetch(name)", name))
    meta = out["meta"]
    path = directory / meta["fileName"]
    path.write_bytes(data)
    assert len(data) == meta["size"] == meta["blobSize"], meta
    return Recorded(meta=meta, path=path, stopped_at=int(out["at"]))


def wait_page_ms(page: ParticipantPage, since_ms: int, duration_ms: int) -> None:
    """Wait until the page's own clock has passed `since_ms + duration_ms` (no sleep in the test)."""
    page.page.wait_for_function(
        "(until) => Date.now() >= until",
        arg=since_ms + duration_ms,
        timeout=duration_ms + DEFAULT_TIMEOUT_MS,
        polling=100,
    )


def page_now(page: ParticipantPage) -> int:
    return int(page.page.evaluate("() => Date.now()"))


# --- container headers --------------------------------------------------------------------------


def header_duration(path: Path) -> float | None:
    """The duration the file's header states (WebM Info/Duration, MP4 mvhd), in seconds; None if absent.

    Parsed here rather than asked of FFmpeg, which computes a duration from the media when the
    header has none."""
    data = path.read_bytes()
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return _webm_header_duration(data)
    return _mp4_header_duration(data)


def _vint(data: bytes, offset: int, keep_marker: bool = False) -> tuple[int, int]:
    first = data[offset]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    value = first if keep_marker else first & (mask - 1)
    for i in range(1, length):
        value = (value << 8) | data[offset + i]
    return value, length


def _webm_header_duration(data: bytes) -> float | None:
    segment_id, info_id, scale_id, duration_id, cluster_id = 0x18538067, 0x1549A966, 0x2AD7B1, 0x4489, 0x1F43B675
    offset = 0
    _, id_len = _vint(data, offset, True)
    size, size_len = _vint(data, offset + id_len)
    offset += id_len + size_len + size  # EBML header
    element_id, id_len = _vint(data, offset, True)
    assert element_id == segment_id, "no Segment"
    _, size_len = _vint(data, offset + id_len)
    offset += id_len + size_len
    while offset < len(data):
        element_id, id_len = _vint(data, offset, True)
        size, size_len = _vint(data, offset + id_len)
        body = offset + id_len + size_len
        if element_id == cluster_id:
            return None
        if element_id == info_id:
            scale = 1_000_000
            duration = None
            child = body
            while child < body + size:
                cid, cid_len = _vint(data, child, True)
                csize, csize_len = _vint(data, child + cid_len)
                value = data[child + cid_len + csize_len : child + cid_len + csize_len + csize]
                if cid == scale_id:
                    scale = int.from_bytes(value, "big")
                elif cid == duration_id:
                    duration = struct.unpack(">d" if csize == 8 else ">f", value)[0]
                child += cid_len + csize_len + csize
            return None if duration is None else duration * scale / 1e9
        offset = body + size
    return None


def _mp4_header_duration(data: bytes) -> float | None:
    def boxes(start: int, end: int) -> list[tuple[str, int, int]]:
        out = []
        offset = start
        while offset + 8 <= end:
            size, kind = struct.unpack(">I4s", data[offset : offset + 8])
            header = 8
            if size == 1:
                size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
                header = 16
            elif size == 0:
                size = end - offset
            out.append((kind.decode("latin-1"), offset + header, offset + size))
            offset += size
        return out

    for kind, body, end in boxes(0, len(data)):
        if kind != "moov":
            continue
        for child, cbody, _ in boxes(body, end):
            if child == "mvhd":
                version = data[cbody]
                if version == 1:
                    timescale, duration = struct.unpack(">IQ", data[cbody + 20 : cbody + 32])
                else:
                    timescale, duration = struct.unpack(">II", data[cbody + 12 : cbody + 20])
                return duration / timescale if duration else None
    return None


# --- decoding -----------------------------------------------------------------------------------


@dataclass
class Decoded:
    codecs: dict[str, str]  # 'audio' / 'video' -> codec name
    audio: np.ndarray  # mono float32
    rate: int
    audio_seconds: float
    video_seconds: float
    frame_colours: np.ndarray  # (n, 3) mean RGB per decoded frame
    frame_times: np.ndarray  # (n,) seconds


def decode(path: Path) -> Decoded:
    codecs: dict[str, str] = {}
    chunks: list[np.ndarray] = []
    rate = 48_000
    audio_end = 0.0
    colours: list[np.ndarray] = []
    times: list[float] = []
    video_end = 0.0
    with av.open(str(path)) as container:
        for stream in container.streams:
            if stream.type in ("audio", "video"):
                codecs[stream.type] = stream.codec_context.name
        streams = [s for s in container.streams if s.type in ("audio", "video")]
        for frame in container.decode(*streams):
            if isinstance(frame, av.AudioFrame):
                rate = frame.sample_rate
                samples = frame.to_ndarray().astype(np.float32)
                if samples.ndim == 2 and frame.format.is_planar:
                    samples = samples.mean(axis=0)
                elif samples.ndim == 2:
                    samples = samples.reshape(-1, len(frame.layout.channels)).mean(axis=1)
                chunks.append(samples)
                if frame.time is not None:
                    audio_end = max(audio_end, frame.time + frame.samples / frame.sample_rate)
            elif isinstance(frame, av.VideoFrame):
                rgb = frame.to_ndarray(format="rgb24")
                colours.append(rgb.reshape(-1, 3).mean(axis=0))
                t = float(frame.time or 0.0)
                times.append(t)
                video_end = max(video_end, t)
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if len(times) > 1:
        video_end += float(np.median(np.diff(sorted(times))))
    return Decoded(
        codecs=codecs,
        audio=audio,
        rate=rate,
        audio_seconds=audio_end,
        video_seconds=video_end,
        frame_colours=np.array(colours).reshape(-1, 3),
        frame_times=np.array(times),
    )


def tone_levels(samples: np.ndarray, rate: int, tones: list[float]) -> dict[float, float]:
    """For each tone, the share of the signal's power within ±10 Hz of it, in dB (0 dB: all of it).

    A recorded tone holds most of its recording's power (a mix of two, about -3 dB each); codec noise
    and leakage put an absent tone far below -40 dB. Silence yields -120 dB for every tone."""
    if len(samples) < rate // 10:
        return {t: -120.0 for t in tones}
    window = np.hanning(len(samples))
    power = np.abs(np.fft.rfft(samples * window)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    total = float(power[(freqs > 50) & (freqs < 8000)].sum())
    if total < 1e-9 * len(samples):
        return {t: -120.0 for t in tones}
    out = {}
    for tone in tones:
        band = (freqs > tone - 10) & (freqs < tone + 10)
        out[tone] = 10 * float(np.log10(max(float(power[band].sum()) / total, 1e-12)))
    return out


TONE_PRESENT_DB = -15.0
TONE_ABSENT_DB = -35.0


def tones_present(samples: np.ndarray, rate: int, tones: list[float]) -> set[float]:
    return {t for t, level in tone_levels(samples, rate, tones).items() if level >= TONE_PRESENT_DB}


def segment(decoded: Decoded, start: float, end: float) -> np.ndarray:
    """Audio samples between `start` and `end` seconds of the file."""
    a = max(0, int(start * decoded.rate))
    b = min(len(decoded.audio), int(end * decoded.rate))
    return decoded.audio[a:b]


def main_colour(decoded: Decoded) -> np.ndarray:
    """The median frame colour, ignoring black frames (the recorder's filler before the first frame)."""
    colours = decoded.frame_colours
    lit = colours[colours.max(axis=1) > 40]
    return np.median(lit if len(lit) else colours, axis=0)


def within(value: float, expected: float, fraction: float = 0.10) -> bool:
    return abs(value - expected) <= fraction * expected


# --- long recordings and memory -----------------------------------------------------------------

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
