"""Server recording of one live member against aiortc's stock `MediaRecorder`, on the same input.

    .venv/bin/python -m bench.member_recording [--seconds 60]

Both sides read the same two aiortc tracks — decoded frames as the recorder gets them from aiortc after
VP8/Opus decoding: 320x240 yuv420p video at 15 fps (a moving gradient with a bouncing square) and 20 ms
frames of 48 kHz stereo s16 audio (a tone) — delivered as fast as they are taken, so the figure is the
recording's CPU, not the wait for real time:

- **ours**: what `LiveRecorder._consume` and `LivePipeline` do for one member's files: audio resampled to
  mono (`to_mono_s16`), then two `TrackFile`s (H.264 600 kb/s `veryfast`/`zerolatency`, keyframe every
  2 s, 2 threads, fragmented MP4; AAC mono 64 kb/s fragmented M4A), encoding in their own threads;
- **baseline**: `aiortc.contrib.media.MediaRecorder("member.mp4")` with both tracks, stock: libx264 with
  its defaults (preset `medium`, CRF 23, B-frames, as many threads as cores), AAC stereo, one
  non-fragmented MP4 (nothing is readable after a crash), encoding inside the event loop.

The figure: CPU seconds of this process (all threads) per recorded member-minute, and the wall time.
Every output is decoded to check that both sides wrote every frame. Receiving and decoding the WebRTC
streams is the same for both and not included.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRecorder
from aiortc.mediastreams import MediaStreamError

from bench.live_recording import FPS, MEMBER_AUDIO_BITRATE, MEMBER_VIDEO_BITRATE, PRESET, pattern
from recording.media.mixer import RATE, new_resampler, to_mono_s16
from recording.media.trackfile import TrackFile

VIDEO_CLOCK = 90_000
AUDIO_FRAME = RATE // 50  # 20 ms, what aiortc's Opus decoder yields


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def video_frames(seconds: int) -> list[av.VideoFrame]:
    frames = []
    for index in range(seconds * FPS):
        frame = av.VideoFrame.from_ndarray(pattern(index, 0), format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index * VIDEO_CLOCK // FPS, fractions.Fraction(1, VIDEO_CLOCK)
        frames.append(frame)
    return frames


def audio_frames(seconds: int, hz: float = 440.0) -> list[av.AudioFrame]:
    frames = []
    for start in range(0, seconds * RATE, AUDIO_FRAME):
        t = np.arange(start, start + AUDIO_FRAME) / RATE
        mono = (np.sin(2 * np.pi * hz * t) * 9000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = RATE, start, fractions.Fraction(1, RATE)
        frames.append(frame)
    return frames


class ListTrack(MediaStreamTrack):
    """Hands out prepared frames as fast as they are taken, then ends (MediaStreamError)."""

    def __init__(self, kind: str, frames: list[Any]) -> None:
        super().__init__()
        self.kind = kind
        self._frames = iter(frames)

    async def recv(self) -> Any:
        await asyncio.sleep(0)  # yield, as a real track does between frames
        try:
            return next(self._frames)
        except StopIteration:
            self.stop()
            raise MediaStreamError from None


async def ours(video: ListTrack, audio: ListTrack, out: Path) -> None:
    files = {
        "video": TrackFile(out / "video.mp4", "video", fps=FPS, preset=PRESET, bit_rate=MEMBER_VIDEO_BITRATE),
        "audio": TrackFile(out / "audio.m4a", "audio", fps=FPS, preset=PRESET, bit_rate=MEMBER_AUDIO_BITRATE),
    }
    base = time.monotonic()

    async def consume(track: ListTrack) -> None:  # LiveRecorder._consume, one member's files only
        resampler = new_resampler()
        file = files[track.kind]
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            while file._queue.qsize() > 200:  # as fast as the encoder goes, never dropping (live: real time)
                await asyncio.sleep(0.001)
            if track.kind == "video":
                file.put(frame, base + float(frame.time))
            else:
                at = base + float(frame.time)  # before resampling: to_mono_s16 drops the frame's pts
                samples = to_mono_s16(resampler, frame)
                file.put(samples, at + samples.size / RATE)

    await asyncio.gather(consume(video), consume(audio))
    await asyncio.to_thread(files["video"].close, 600)
    await asyncio.to_thread(files["audio"].close, 600)


async def stock(video: ListTrack, audio: ListTrack, out: Path) -> None:
    recorder = MediaRecorder(str(out / "member.mp4"))
    recorder.addTrack(video)
    recorder.addTrack(audio)
    await recorder.start()
    while video.readyState != "ended" or audio.readyState != "ended":
        await asyncio.sleep(0.01)  # polling the tracks' end
    await recorder.stop()


def decoded(path: Path) -> dict[str, float]:
    counts: dict[str, float] = {"video_frames": 0, "audio_seconds": 0.0}
    with av.open(str(path)) as container:
        for frame in container.decode(*container.streams):
            if isinstance(frame, av.VideoFrame):
                counts["video_frames"] += 1
            else:
                counts["audio_seconds"] += frame.samples / frame.sample_rate
    return counts


def run(
    name: str, side: Callable[[ListTrack, ListTrack, Path], Coroutine[Any, Any, None]], seconds: int, root: Path
) -> dict[str, float]:
    out = root / name
    out.mkdir()
    video, audio = ListTrack("video", video_frames(seconds)), ListTrack("audio", audio_frames(seconds))
    wall, cpu = time.perf_counter(), cpu_self()
    asyncio.run(side(video, audio, out))
    wall, cpu = time.perf_counter() - wall, cpu_self() - cpu
    result = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "cpu_s_per_member_min": round(cpu * 60 / seconds, 2)}
    size = 0
    for path in sorted(out.iterdir()):
        size += path.stat().st_size
        for key, value in decoded(path).items():
            result[key] = result.get(key, 0) + round(value, 2)
    result["kbit_s"] = round(size * 8 / seconds / 1000)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the input media")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    seconds = args.seconds
    with tempfile.TemporaryDirectory(prefix="netcall-bench-member-") as tmp:
        results = {
            "ours": run("ours", ours, seconds, Path(tmp)),
            "stock_media_recorder": run("stock", stock, seconds, Path(tmp)),
        }
    ratio = round(results["ours"]["cpu_s"] / results["stock_media_recorder"]["cpu_s"], 2)
    if args.json:
        print(json.dumps({"seconds": seconds, "cores": os.cpu_count(), "results": results, "cpu_ratio": ratio}))
        return
    print(f"input: {seconds} s of 320x240 {FPS} fps + 48 kHz stereo per member; {os.cpu_count()} cores")
    for name, values in results.items():
        print(f"  {name:21} " + "  ".join(f"{k}={v}" for k, v in values.items()))
    print(f"  CPU per member-minute, ours / stock MediaRecorder: {ratio}")


if __name__ == "__main__":
    main()
