"""Live recording cost on this machine, each figure beside a plain `ffmpeg` baseline in the same command.

    .venv/bin/python -m bench.live_recording [--seconds 30]

1. **Member recording**: CPU seconds per recorded member-minute for one broadcaster's files (H.264
   video-only MP4 + AAC M4A, fragmented, the recorder's TrackFile), fed decoded 320x240 15 fps frames
   and 48 kHz audio as fast as possible. Baseline: `ffmpeg` encoding the same input to the same codecs,
   settings and fragmented MP4 (one process, both streams).
2. **Composite encoder**: the live picture of a host and a co-host at 640x360 15 fps plus their mixed
   voices, H.264 + AAC (the recorder's Compositor, AudioMixer and encoder settings), as fast as possible:
   real-time factor (media seconds per wall second) and CPU seconds per media minute. Baseline: `ffmpeg`
   doing the same composition (scale, pad, hstack, amix) and encode from the same input files.

Not included on either side: receiving and decoding the WebRTC streams (VP8/Opus), which the recorder
pays once per broadcaster (TESTING.md measured ~0.07 CPU-s per media second for a 640x480 stream).
The input is a moving pattern (a still colour would make the encoders' job unrealistically easy).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from recording.media.compositor import Compositor
from recording.media.mixer import RATE, AudioMixer
from recording.media.trackfile import AUDIO_FRAGMENT_OPTIONS, VIDEO_FRAGMENT_OPTIONS, TrackFile, x264_options

WIDTH, HEIGHT, FPS = 320, 240, 15
LIVE_W, LIVE_H = 640, 360
PRESET = "veryfast"
MEMBER_VIDEO_BITRATE, MEMBER_AUDIO_BITRATE = 600_000, 64_000
LIVE_VIDEO_BITRATE, LIVE_AUDIO_BITRATE = 1_000_000, 96_000


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pattern(index: int, hue: int) -> np.ndarray:
    """A moving gradient with a bouncing square: realistic work for an encoder."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    image[..., 0] = (x + index * 3 + hue) % 256
    image[..., 1] = (y + index * 2) % 256
    image[..., 2] = (x + y + hue) % 256
    cx, cy = (index * 7) % (WIDTH - 40), (index * 5) % (HEIGHT - 40)
    image[cy : cy + 40, cx : cx + 40] = (255, 255, 255)
    return image


def write_inputs(directory: Path, seconds: int, name: str, hue: int, hz: float) -> tuple[Path, Path]:
    """`name.y4m` and `name.wav`: the same media the in-process runs use, for ffmpeg."""
    video, audio = directory / f"{name}.y4m", directory / f"{name}.wav"
    with av.open(str(video), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(seconds * FPS):
            frame = av.VideoFrame.from_ndarray(pattern(index, hue), format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    t = np.arange(seconds * RATE) / RATE
    pcm = (np.sin(2 * np.pi * hz * t) * 9000).astype("<i2")
    with wave.open(str(audio), "wb") as out_wav:
        out_wav.setnchannels(1)
        out_wav.setsampwidth(2)
        out_wav.setframerate(RATE)
        out_wav.writeframes(pcm.tobytes())
    return video, audio


def read_frames(video: Path) -> list[av.VideoFrame]:
    with av.open(str(video)) as container:
        return list(container.decode(video=0))


def read_pcm(audio: Path) -> np.ndarray:
    with wave.open(str(audio)) as source:
        return np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").copy()


def audio_chunks(pcm: np.ndarray, size: int = RATE // 50) -> Iterator[np.ndarray]:
    for start in range(0, pcm.size - size + 1, size):
        yield pcm[start : start + size]


def measure(function: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children)."""
    wall, cpu, children = time.perf_counter(), cpu_self(), cpu_children()
    function()
    return time.perf_counter() - wall, (cpu_self() - cpu) + (cpu_children() - children)


def video_frames(path: Path) -> int:
    """Frames that decode from an output: both sides must have encoded everything."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


# --- 1. member recording ------------------------------------------------------------------------------


def member_ours(frames: list[av.VideoFrame], pcm: np.ndarray, out: Path) -> None:
    video = TrackFile(out / "video.mp4", "video", fps=FPS, preset=PRESET, bit_rate=MEMBER_VIDEO_BITRATE)
    audio = TrackFile(out / "audio.m4a", "audio", fps=FPS, preset=PRESET, bit_rate=MEMBER_AUDIO_BITRATE)
    base = time.monotonic()
    for index, frame in enumerate(frames):
        while video._queue.qsize() > 200:
            time.sleep(0.001)
        video.put(frame, base + index / FPS)
    for index, chunk in enumerate(audio_chunks(pcm)):
        while audio._queue.qsize() > 200:
            time.sleep(0.001)
        audio.put(chunk, base + (index + 1) * chunk.size / RATE)
    video.close(timeout=600)
    audio.close(timeout=600)


def member_ffmpeg(video: Path, audio: Path, out: Path) -> None:
    x264 = x264_options(preset=PRESET, fps=FPS)
    ffmpeg(
        *("-i", str(video), "-i", str(audio)),
        *("-map", "0:v", "-c:v", "libx264", "-preset", x264["preset"], "-tune", x264["tune"], "-g", x264["g"]),
        *("-threads", x264["threads"], "-b:v", str(MEMBER_VIDEO_BITRATE)),
        *("-movflags", VIDEO_FRAGMENT_OPTIONS["movflags"], str(out / "video.mp4")),
        *("-map", "1:a", "-c:a", "aac", "-ac", "1", "-b:a", str(MEMBER_AUDIO_BITRATE)),
        *("-movflags", AUDIO_FRAGMENT_OPTIONS["movflags"], "-frag_duration", AUDIO_FRAGMENT_OPTIONS["frag_duration"]),
        str(out / "audio.m4a"),
    )


# --- 2. composite ----------------------------------------------------------------------------------------


def composite_ours(host: list[av.VideoFrame], cohost: list[av.VideoFrame], voices: list[np.ndarray], out: Path) -> None:
    compositor, mixer = Compositor(LIVE_W, LIVE_H), AudioMixer()
    compositor.set_layout("host", ["cohost"])
    with av.open(str(out / "composite.mp4"), "w", format="mp4", options=dict(VIDEO_FRAGMENT_OPTIONS)) as container:
        video = container.add_stream("libx264", rate=FPS, options=x264_options(preset=PRESET, fps=FPS))
        video.width, video.height, video.pix_fmt = LIVE_W, LIVE_H, "yuv420p"
        video.bit_rate = LIVE_VIDEO_BITRATE
        video.codec_context.time_base = Fraction(1, FPS)
        audio = container.add_stream("aac", rate=RATE)
        audio.layout, audio.bit_rate = "mono", LIVE_AUDIO_BITRATE
        per_frame = RATE // FPS
        for index in range(min(len(host), len(cohost))):
            compositor.set_frame("host", host[index])
            compositor.set_frame("cohost", cohost[index])
            for account, pcm in zip(("host", "cohost"), voices, strict=True):
                mixer.push(account, pcm[index * per_frame : (index + 1) * per_frame])
            frame = compositor.render()
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
            sound = av.AudioFrame.from_ndarray(mixer.pull(per_frame).reshape(1, -1), format="s16", layout="mono")
            sound.sample_rate, sound.pts, sound.time_base = RATE, index * per_frame, Fraction(1, RATE)
            container.mux(audio.encode(sound))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))


def composite_ffmpeg(inputs: list[tuple[Path, Path]], out: Path) -> None:
    (host_v, host_a), (co_v, co_a) = inputs
    x264 = x264_options(preset=PRESET, fps=FPS)
    graph = (
        "[0:v]scale=480:360[h];[1:v]scale=160:120,pad=160:360:0:120[c];[h][c]hstack=inputs=2[v];"
        "[2:a][3:a]amix=inputs=2:normalize=0[a]"
    )
    ffmpeg(
        *("-i", str(host_v), "-i", str(co_v), "-i", str(host_a), "-i", str(co_a)),
        *("-filter_complex", graph, "-map", "[v]", "-map", "[a]"),
        *("-c:v", "libx264", "-preset", x264["preset"], "-tune", x264["tune"], "-g", x264["g"]),
        *("-threads", x264["threads"], "-b:v", str(LIVE_VIDEO_BITRATE), "-r", str(FPS)),
        *("-c:a", "aac", "-ac", "1", "-b:a", str(LIVE_AUDIO_BITRATE)),
        *("-movflags", VIDEO_FRAGMENT_OPTIONS["movflags"], str(out / "composite.mp4")),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="length of the input media")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("the baseline needs the ffmpeg command (Debian: apt-get install ffmpeg)")
    seconds = args.seconds
    minutes = seconds / 60
    with tempfile.TemporaryDirectory(prefix="netcall-bench-") as tmp:
        directory = Path(tmp)
        host_in = write_inputs(directory, seconds, "host", 0, 440)
        cohost_in = write_inputs(directory, seconds, "cohost", 128, 660)
        host_frames, cohost_frames = read_frames(host_in[0]), read_frames(cohost_in[0])
        voices = [read_pcm(host_in[1]), read_pcm(cohost_in[1])]
        results: dict[str, dict[str, float]] = {}
        runs: list[tuple[str, Callable[[Path], None]]] = [
            ("member_ours", lambda out: member_ours(host_frames, voices[0], out)),
            ("member_ffmpeg", lambda out: member_ffmpeg(*host_in, out)),
            ("composite_ours", lambda out: composite_ours(host_frames, cohost_frames, voices, out)),
            ("composite_ffmpeg", lambda out: composite_ffmpeg([host_in, cohost_in], out)),
        ]
        for name, run in runs:
            out = directory / name
            out.mkdir()
            wall, cpu = measure(functools.partial(run, out))
            produced = out / ("composite.mp4" if name.startswith("composite") else "video.mp4")
            results[name] = {
                "video_frames": video_frames(produced),
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "cpu_s_per_media_min": round(cpu / minutes, 2),
                "realtime_factor": round(seconds / wall, 1),
            }
    ratio = {
        "member_cpu_vs_ffmpeg": round(results["member_ours"]["cpu_s"] / results["member_ffmpeg"]["cpu_s"], 2),
        "composite_speed_vs_ffmpeg": round(
            results["composite_ours"]["realtime_factor"] / results["composite_ffmpeg"]["realtime_factor"], 2
        ),
        "composite_cpu_vs_ffmpeg": round(results["composite_ours"]["cpu_s"] / results["composite_ffmpeg"]["cpu_s"], 2),
    }
    if args.json:
        print(json.dumps({"seconds": seconds, "cores": os.cpu_count(), "results": results, "ratios": ratio}))
        return
    print(f"input: {seconds} s of 320x240 {FPS} fps video + 48 kHz audio per person; {os.cpu_count()} cores")
    for name, values in results.items():
        print(f"  {name:17} " + "  ".join(f"{k}={v}" for k, v in values.items()))
    for name, value in ratio.items():
        print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
