"""Media for the SDK's node tests (tests/js/): real MediaRecorder output, and what PyAV makes of a file.

    python tests/js/media_tool.py record OUT_DIR   # Chromium records a few seconds of each format
    python tests/js/media_tool.py probe FILE...    # JSON: what PyAV reads of each file

`record` drives headless Chromium (Debian's when installed, else Playwright's) with its fake camera
and microphone, and records with MediaRecorder the way the SDK does (recorder.js: a 1 s timeslice,
a keyframe every 2 s), so the fixers see what they see in a browser: WebM in "live" mode without a
duration, fragmented MP4 whose header says 0. Each recording stops after a number of chunks (a
condition, not a clock) and is written to OUT_DIR as the concatenated file plus, in manifest.json,
its chunk sizes. `probe` demuxes and decodes every packet of each file and prints, per file, the
duration in its header and where its packets really end.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from pathlib import Path
from typing import Any

# What the SDK records (formats.js), and how long: chunks of 1 s.
FORMATS: list[dict[str, Any]] = [
    {"name": "video-vp8", "mimeType": "video/webm;codecs=vp8,opus", "video": True, "extension": ".webm"},
    {"name": "audio-opus-webm", "mimeType": "audio/webm;codecs=opus", "video": False, "extension": ".webm"},
    {"name": "video-h264", "mimeType": "video/mp4;codecs=avc1,opus", "video": True, "extension": ".mp4"},
    {"name": "video-vp9-mp4", "mimeType": "video/mp4;codecs=vp9,opus", "video": True, "extension": ".mp4"},
    {"name": "audio-opus-mp4", "mimeType": "audio/mp4;codecs=opus", "video": False, "extension": ".m4a"},
]
CHUNKS = 4
PAGE = "<!doctype html><title>netcall fixer media</title>"
# Every format at once (in parallel: about 8 s in all), each as {chunks: [base64...], seconds, mimeType}.
RECORD_JS = """
async ({ specs, chunks }) => Promise.all(specs.map(async ({ mimeType, video }) => {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: true,
    video: video ? { width: 320, height: 240, frameRate: 15 } : false,
  });
  const recorder = new MediaRecorder(stream, {
    mimeType,
    audioBitsPerSecond: 64000,
    ...(video ? { videoBitsPerSecond: 300000, videoKeyFrameIntervalDuration: 2000 } : {}),
  });
  const parts = [];
  const started = performance.now();
  await new Promise((resolve, reject) => {
    recorder.ondataavailable = (event) => {
      if (event.data.size > 0) parts.push(event.data);
      if (parts.length >= chunks && recorder.state === 'recording') recorder.stop();
    };
    recorder.onstop = resolve;
    recorder.onerror = (event) => reject(event.error ?? new Error('recorder error'));
    recorder.start(1000);
  });
  const seconds = (performance.now() - started) / 1000;
  for (const track of stream.getTracks()) track.stop();
  const encoded = [];
  for (const part of parts) {
    const bytes = new Uint8Array(await part.arrayBuffer());
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    encoded.push(btoa(binary));
  }
  return { chunks: encoded, seconds, mimeType: recorder.mimeType };
}))
"""


def chromium_path() -> str | None:
    """Debian's Chromium where it is installed (Playwright cannot download browsers everywhere)."""
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def record(out_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = []
    flags = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--no-sandbox", "--disable-gpu"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=flags)
        page = browser.new_page()
        # localhost is a secure context: getUserMedia works there.
        page.route("http://localhost/", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
        page.goto("http://localhost/")
        specs = []
        for spec in FORMATS:
            if page.evaluate("(t) => MediaRecorder.isTypeSupported(t)", spec["mimeType"]):
                specs.append(spec)
            else:
                print(f"media_tool: this Chromium cannot record {spec['mimeType']}", file=sys.stderr)
        recorded = page.evaluate(RECORD_JS, {"specs": specs, "chunks": CHUNKS})
        for spec, got in zip(specs, recorded, strict=True):
            chunks = [base64.b64decode(c) for c in got["chunks"]]
            path = out_dir / f"{spec['name']}{spec['extension']}"
            path.write_bytes(b"".join(chunks))
            manifest.append(
                {
                    "name": spec["name"],
                    "file": path.name,
                    "mimeType": got["mimeType"],
                    "container": "webm" if spec["extension"] == ".webm" else "mp4",
                    "video": spec["video"],
                    "chunks": [len(c) for c in chunks],
                    "seconds": got["seconds"],
                }
            )
        browser.close()
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def probe_one(path: Path) -> dict[str, Any]:
    import av

    try:
        with av.open(str(path)) as container:
            header = None if container.duration is None else container.duration / av.time_base
            streams: dict[int, dict[str, Any]] = {}
            last_pts: dict[int, float] = {}
            gaps: dict[int, float] = {}
            for stream in container.streams:
                streams[stream.index] = {
                    "type": stream.type,
                    "codec": stream.codec_context.name,
                    "end": 0.0,
                    "frames": 0,
                }
            for packet in container.demux():
                if packet.pts is None or packet.time_base is None:
                    continue
                index = packet.stream.index
                pts = float(packet.pts * packet.time_base)
                if index in last_pts and pts > last_pts[index]:
                    gaps[index] = min(gaps.get(index, pts - last_pts[index]), pts - last_pts[index])
                last_pts[index] = max(last_pts.get(index, pts), pts)
                # A packet without a duration (a WebM SimpleBlock) lasts as long as the stream's shortest gap.
                length = float(packet.duration * packet.time_base) if packet.duration else gaps.get(index, 0.0)
                info = streams[index]
                info["end"] = max(info["end"], pts + length)
                for frame in packet.decode():
                    info["frames"] += 1
                    time = getattr(frame, "time", None)  # a subtitle has none
                    if time is not None and "first" not in info:
                        info["first"] = float(time)
            return {"ok": True, "duration": header, "streams": list(streams.values())}
    except (av.error.FFmpegError, OSError) as err:
        return {"ok": False, "error": f"{type(err).__name__}: {err}"}


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "record":
        record(Path(argv[1]))
        return 0
    if len(argv) >= 2 and argv[0] == "probe":
        print(json.dumps({name: probe_one(Path(name)) for name in argv[1:]}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
