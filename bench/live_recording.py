"""Live recording cost on this machine, each figure beside a plain `ffmpeg` baseline in the same command.

    .venv/bin/python -m bench.live_recording [--seconds 60] [--json]

1. **Member files**: CPU seconds per recorded member-second for one broadcaster's files as the recorder
   writes them (`MemberFile`: the encoded VP8 and Opus frames muxed as received into WebM, clusters
   flushed), fed the frames of a 320x240 15 fps VP8 + Opus stream as fast as they are taken. Baseline:
   `ffmpeg -c copy` of the same stream (one WebM in, a video WebM and an audio WebM out).
2. **Composite**: the live picture of 2 and 4 broadcasters (VP8 320x240 15 fps + Opus each) at 640x360
   and 1280x720, 15 fps: decoding every member (PyAV), the recorder's Compositor and AudioMixer, H.264 +
   AAC with the recorder's encoder settings, as fast as possible. Baseline: `ffmpeg` doing the same
   decode + layout (scale, pad, xstack) + amix + x264/AAC from the same input files.

Ratios are ours / ffmpeg CPU seconds (this process's threads against the ffmpeg child's), measured one
after the other in the same run. The input is a moving pattern per member (a still colour would make
the encoders' job unrealistically easy).
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
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from recording.media.bitstream import frame_info
from recording.media.composite import VIDEO_FRAGMENT_OPTIONS, x264_options
from recording.media.compositor import Compositor
from recording.media.encoded import EncodedFrame
from recording.media.layout import layout_tiles
from recording.media.memberfile import MemberFile
from recording.media.mixer import RATE, AudioMixer, new_resampler, to_mono_s16

WIDTH, HEIGHT, FPS = 320, 240, 15
PRESET = "veryfast"
LIVE_VIDEO_BITRATE, LIVE_AUDIO_BITRATE = 1_000_000, 96_000
VIDEO_CLOCK = 90_000


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(function: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children)."""
    wall, cpu, children = time.perf_counter(), cpu_self(), cpu_children()
    function()
    return time.perf_counter() - wall, (cpu_self() - cpu) + (cpu_children() - children)


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


def write_member(path: Path, seconds: int, hue: int, hz: float) -> None:
    """What one browser sends, as a WebM: VP8 (500 kb/s, realtime, keyframe every 2 s) and Opus."""
    with av.open(str(path), "w", format="webm") as out:
        video = out.add_stream("libvpx", rate=FPS, options={"deadline": "realtime", "cpu-used": "8"})
        video.width, video.height, video.pix_fmt, video.bit_rate = WIDTH, HEIGHT, "yuv420p", 500_000
        video.codec_context.gop_size = 2 * FPS
        audio = out.add_stream("libopus", rate=RATE)
        audio.layout = "stereo"
        for index in range(seconds * FPS):
            frame = av.VideoFrame.from_ndarray(pattern(index, hue), format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        t = np.arange(seconds * RATE) / RATE
        pcm = (np.sin(2 * np.pi * hz * t) * 9000).astype(np.int16)
        for start in range(0, pcm.size - 960 + 1, 960):
            chunk = np.repeat(pcm[start : start + 960], 2).reshape(1, -1)
            sound = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
            sound.sample_rate, sound.pts = RATE, start
            out.mux(audio.encode(sound))
        out.mux(audio.encode(None))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


# --- 1. member files -----------------------------------------------------------------------------------


def encoded_frames(path: Path) -> list[EncodedFrame]:
    """The frames aiortc's receiver would assemble from this stream (RTP clocks), in arrival order."""
    frames = []
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None or packet.size == 0:
                continue
            kind = packet.stream.type
            clock = VIDEO_CLOCK if kind == "video" else RATE
            assert packet.time_base is not None
            timestamp = int(packet.pts * packet.time_base * clock)
            data = bytes(packet)
            codec = "vp8" if kind == "video" else "opus"
            info = frame_info(codec, data) if kind == "video" else None
            frames.append(
                EncodedFrame(
                    kind,
                    codec,
                    data,
                    timestamp,
                    clock,
                    keyframe=info.keyframe if info else True,
                    width=info.width if info else 0,
                    height=info.height if info else 0,
                )
            )
    return frames


def member_ours(frames: list[EncodedFrame], out: Path) -> None:
    def opener(kind: str) -> Callable[[object], Path]:
        return lambda spec: out / f"{kind}.webm"

    files = {kind: MemberFile(kind, opener(kind), on_error=print) for kind in ("video", "audio")}
    for frame in frames:
        while files[frame.kind]._queue.qsize() > 400:  # as fast as the writer takes them, none dropped
            time.sleep(0.001)
        files[frame.kind].put(frame)
    for file in files.values():
        file.close(timeout=600)
        assert file.error is None and not file.dropped, (file.error, file.dropped)


def member_ffmpeg(source: Path, out: Path) -> None:
    ffmpeg(
        *("-i", str(source), "-map", "0:v", "-c", "copy", str(out / "video.webm")),
        *("-map", "0:a", "-c", "copy", str(out / "audio.webm")),
    )


# --- 2. composite -------------------------------------------------------------------------------------


def composite_ours(sources: list[Path], size: tuple[int, int], out: Path) -> None:
    """Decode every member, compose, mix, encode: the recorder's composite path without the network."""
    width, height = size
    accounts = [f"m{index}" for index in range(len(sources))]
    compositor, mixer = Compositor(width, height), AudioMixer()
    compositor.set_layout(accounts[0], accounts[1:])
    inputs = [av.open(str(path)) for path in sources]
    resamplers = [new_resampler() for _ in sources]
    per_frame = RATE // FPS
    with av.open(str(out / "composite.mp4"), "w", format="mp4", options=dict(VIDEO_FRAGMENT_OPTIONS)) as container:
        video = container.add_stream("libx264", rate=FPS, options=x264_options(preset=PRESET, fps=FPS))
        video.width, video.height, video.pix_fmt = compositor.width, compositor.height, "yuv420p"
        video.bit_rate = LIVE_VIDEO_BITRATE
        video.codec_context.time_base = Fraction(1, FPS)
        audio = container.add_stream("aac", rate=RATE)
        audio.layout, audio.bit_rate = "mono", LIVE_AUDIO_BITRATE
        video_frames = [source.decode(video=0) for source in inputs]
        audio_inputs = [av.open(str(path)) for path in sources]
        audio_frames = [source.decode(audio=0) for source in audio_inputs]
        index = 0
        while True:
            done = False
            for account, frames in zip(accounts, video_frames, strict=True):
                frame = next(frames, None)
                if frame is None:
                    done = True
                    break
                compositor.set_frame(account, frame)
            if done:
                break
            for account, sounds, resampler in zip(accounts, audio_frames, resamplers, strict=True):
                while mixer._voices.get(account) is None or mixer._voices[account].buffered < 2 * per_frame:
                    sound_in = next(sounds, None)
                    if sound_in is None:
                        break
                    mixer.push(account, to_mono_s16(resampler, sound_in))
            image = compositor.render()
            image.pts, image.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(image))
            sound = av.AudioFrame.from_ndarray(mixer.pull(per_frame).reshape(1, -1), format="s16", layout="mono")
            sound.sample_rate, sound.pts, sound.time_base = RATE, index * per_frame, Fraction(1, RATE)
            container.mux(audio.encode(sound))
            index += 1
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    for source in inputs + audio_inputs:
        source.close()


def composite_ffmpeg(sources: list[Path], size: tuple[int, int], out: Path) -> None:
    """The same layout as layout_tiles, as an ffmpeg filter graph: each tile scaled to fit and padded."""
    width, height = size
    accounts = [f"m{index}" for index in range(len(sources))]
    tiles = layout_tiles(width // 2 * 2, height // 2 * 2, accounts[0], accounts[1:])
    parts, placed = [], []
    for index, account in enumerate(accounts):
        rect = tiles[account]
        scale = min(rect.width / WIDTH, rect.height / HEIGHT)
        w, h = max(2, int(WIDTH * scale) // 2 * 2), max(2, int(HEIGHT * scale) // 2 * 2)
        parts.append(
            f"[{index}:v]scale={w}:{h},pad={rect.width}:{rect.height}:(ow-iw)/2:(oh-ih)/2:color=black[t{index}]"
        )
        placed.append((f"[t{index}]", f"{rect.x}_{rect.y}"))
    inputs = "".join(label for label, _ in placed)
    positions = "|".join(position for _, position in placed)
    audio = "".join(f"[{index}:a]" for index in range(len(sources)))
    graph = ";".join(
        [
            *parts,
            f"{inputs}xstack=inputs={len(sources)}:layout={positions}:fill=black[v]",
            f"{audio}amix=inputs={len(sources)}:normalize=0,pan=mono|c0=c0[a]",
        ]
    )
    x264 = x264_options(preset=PRESET, fps=FPS)
    args = [arg for path in sources for arg in ("-i", str(path))]
    ffmpeg(
        *args,
        *("-filter_complex", graph, "-map", "[v]", "-map", "[a]"),
        *("-c:v", "libx264", "-preset", x264["preset"], "-tune", x264["tune"], "-g", x264["g"]),
        *("-threads", x264["threads"], "-b:v", str(LIVE_VIDEO_BITRATE), "-r", str(FPS)),
        *("-c:a", "aac", "-ac", "1", "-b:a", str(LIVE_AUDIO_BITRATE)),
        *("-movflags", VIDEO_FRAGMENT_OPTIONS["movflags"], str(out / "composite.mp4")),
    )


def video_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of each member's media")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("the baseline needs the ffmpeg command (Debian: apt-get install ffmpeg)")
    seconds = args.seconds
    results: dict[str, dict[str, float]] = {}
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="netcall-bench-") as tmp:
        directory = Path(tmp)
        members = []
        for index in range(4):
            path = directory / f"member{index}.webm"
            write_member(path, seconds, hue=index * 64, hz=440 + 110 * index)
            members.append(path)
        frames = encoded_frames(members[0])

        def run(name: str, function: Callable[[Path], None], produced: str) -> dict[str, float]:
            out = directory / name
            out.mkdir()
            wall, cpu = measure(functools.partial(function, out))
            results[name] = {
                "video_frames": video_frames(out / produced),
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "cpu_s_per_media_s": round(cpu / seconds, 4),
            }
            return results[name]

        ours = run("member_ours", lambda out: member_ours(frames, out), "video.webm")
        base = run("member_ffmpeg", lambda out: member_ffmpeg(members[0], out), "video.webm")
        ratios["member_cpu_vs_ffmpeg_copy"] = round(ours["cpu_s"] / base["cpu_s"], 2)
        for count in (2, 4):
            for size in ((640, 360), (1280, 720)):
                label = f"composite_{count}x_{size[0]}x{size[1]}"
                sources = members[:count]
                ours = run(f"{label}_ours", functools.partial(composite_ours, sources, size), "composite.mp4")
                base = run(f"{label}_ffmpeg", functools.partial(composite_ffmpeg, sources, size), "composite.mp4")
                ratios[f"{label}_cpu_vs_ffmpeg"] = round(ours["cpu_s"] / base["cpu_s"], 2)
    if args.json:
        print(json.dumps({"seconds": seconds, "cores": os.cpu_count(), "results": results, "ratios": ratios}))
        return
    print(f"input: {seconds} s of 320x240 {FPS} fps VP8 + Opus per member; {os.cpu_count()} cores")
    for name, values in results.items():
        print(f"  {name:34} " + "  ".join(f"{k}={v}" for k, v in values.items()))
    for name, value in ratios.items():
        print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
