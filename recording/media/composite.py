"""The composite encoder: the live picture and mix, H.264 + AAC, to a crash-safe MP4 and the RTMP push.

One thread, clocked by time.monotonic(): it first opens the spool file and the encoders (x264 set-up
never runs on the event loop), then every 1/fps renders the picture, pulls exactly the audio samples that
the clock says are due, encodes both once and hands the packets to the outputs (the spool file when
recording, the RtmpPusher when pushing). Falling behind skips frames instead of drifting.

The spool is a fragmented MP4 (`empty_moov`, a fragment per keyframe, flushed to disk): if the process
dies, everything up to the last complete fragment plays.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
from av.video.frame import PictureType

from recording.media.compositor import Compositor
from recording.media.mixer import RATE, AudioMixer
from recording.media.pause import PauseGate

logger = logging.getLogger(__name__)

VIDEO_FRAGMENT_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": "1000000",  # a fragment at least every second: a crash loses at most about that
    "flush_packets": "1",
}


def x264_options(*, preset: str, fps: int) -> dict[str, str]:
    """Low-latency H.264: no B-frames (simple timestamps for FLV), a keyframe every two seconds (fragments,
    RTMP reconnects), two threads at most (the machine also serves the call)."""
    return {"preset": preset, "tune": "zerolatency", "g": str(2 * fps), "threads": "2"}


@dataclass(frozen=True)
class CompositeConfig:
    width: int = 640
    height: int = 360
    fps: int = 15
    video_bit_rate: int = 1_000_000
    audio_bit_rate: int = 96_000
    preset: str = "veryfast"


PacketSink = Callable[[av.Packet, str], None]


class CompositeEncoder:
    def __init__(
        self,
        config: CompositeConfig,
        compositor: Compositor,
        mixer: AudioMixer,
        *,
        open_path: Callable[[], Path | None],
        on_open: Callable[[CompositeEncoder], None] = lambda encoder: None,
        on_error: Callable[[str], None] = lambda error: None,
    ) -> None:
        """`open_path` (called in the encoder thread): the spool MP4 to record to, or None to encode for
        the push only. `on_open`: the encoders exist (`video`, `audio`: templates for the push)."""
        self.config, self.compositor, self.mixer = config, compositor, mixer
        self._open_path, self._on_open, self._on_error = open_path, on_open, on_error
        self.path: Path | None = None
        self._container: av.container.OutputContainer | None = None
        self.video: av.VideoStream | None = None
        self.audio: av.AudioStream | None = None
        self._sinks: list[PacketSink] = []
        self.gate = PauseGate()  # pauseLiveRecord(): the spool file pauses, the sinks (the push) do not
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames = 0
        self.skipped = 0
        self.encode_seconds = 0.0
        self.error: str | None = None

    def _open(self) -> None:
        config = self.config
        self.path = self._open_path()
        target = str(self.path) if self.path is not None else os.devnull
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # The spool container hosts the encoders; with no recording it writes to /dev/null.
        container = av.open(target, "w", format="mp4", options=dict(VIDEO_FRAGMENT_OPTIONS))
        self._container = container
        video = container.add_stream(
            "libx264", rate=config.fps, options=x264_options(preset=config.preset, fps=config.fps)
        )
        video.width, video.height = self.compositor.width, self.compositor.height
        video.pix_fmt = "yuv420p"
        video.bit_rate = config.video_bit_rate
        video.codec_context.time_base = Fraction(1, config.fps)
        audio = container.add_stream("aac", rate=RATE)
        audio.layout = "mono"
        audio.bit_rate = config.audio_bit_rate
        container.start_encoding()
        self.video, self.audio = video, audio
        self._on_open(self)

    def add_sink(self, sink: PacketSink) -> None:
        self._sinks.append(sink)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="composite", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _emit(self, packets: list[av.Packet], kind: str) -> None:
        for packet in packets:
            for sink in self._sinks:
                try:
                    sink(packet, kind)
                except Exception:
                    logger.exception("CompositeEncoder sink failed")
            if self.path is not None and self._container is not None and self.gate.admit(packet, kind):
                self._container.mux(packet)

    def _run(self) -> None:
        fps = self.config.fps
        start = time.monotonic()
        index = 0
        samples = 0
        try:
            self._open()
            assert self.video is not None and self.audio is not None
            start = time.monotonic()
            while not self._stop.is_set():
                due = start + index / fps
                wait = due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break
                late = int((time.monotonic() - start) * fps) - index
                if late > 1:  # behind: skip frames, keep the clock
                    self.skipped += late
                    index += late
                began = time.thread_time()
                now = start + index / fps  # the instant this frame and its audio stand for
                frame = self.compositor.render(now + 0.5 / fps)  # the frame nearest this instant
                frame.pts, frame.time_base = index, Fraction(1, fps)
                if self.gate.wants_keyframe:  # resumed: the file goes on from a keyframe
                    frame.pict_type = PictureType.I
                    self.gate.wants_keyframe = False
                self._emit(self.video.encode(frame), "video")
                wanted = round((index + 1) * RATE / fps) - samples
                if wanted > 0:
                    pcm = self.mixer.pull(wanted, now)
                    sound = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
                    sound.sample_rate = RATE
                    sound.pts, sound.time_base = samples, Fraction(1, RATE)
                    samples += wanted
                    self._emit(self.audio.encode(sound), "audio")
                self.encode_seconds += time.thread_time() - began
                self.frames += 1
                index += 1
        except Exception as exc:
            self.error = f"{exc.__class__.__name__}: {exc}"
            logger.exception("CompositeEncoder failed")
            try:
                self._on_error(self.error)
            except Exception:
                logger.exception("CompositeEncoder error callback failed")
        finally:
            self._close()

    def _close(self) -> None:
        if self._container is None:
            return
        try:
            if self.video is not None and self.audio is not None:
                self._emit(self.video.encode(None), "video")
                self._emit(self.audio.encode(None), "audio")
        except Exception:
            logger.exception("CompositeEncoder flush failed")
        try:
            self._container.close()
        except Exception:
            logger.exception("CompositeEncoder close failed")
        logger.info("CompositeEncoder closed: %d frames, %d skipped", self.frames, self.skipped)
