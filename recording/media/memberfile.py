"""One broadcaster's track written as the browser sent it: encoded frames muxed, never decoded or encoded.

VP8/VP9 and Opus go to WebM, H.264 to Matroska (`FileSpec.for_codec`). The muxer writes a cluster at
least every CLUSTER_MS (and at each video keyframe) and flushes every packet, so a killed recorder leaves
a file that plays up to the last complete cluster. A video file starts at a keyframe; a keyframe of
another size (or another codec) starts a new segment: the current file is closed and the next one
opened (`segment` 1, 2, ...). Timestamps are the RTP timestamps of the frames, counted from the file's
first: gaps (packet loss, a muted microphone's DTX) stay gaps, so the file keeps the sender's timeline.

Each file has its own writer thread fed through a bounded queue (the decoder thread that feeds it never
waits on a disk); opening the container happens there too, never on the event loop.
"""

from __future__ import annotations

import io
import logging
import queue
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container

from recording.media.encoded import EncodedFrame

logger = logging.getLogger(__name__)

CLUSTER_MS = 1000
MUX_OPTIONS = {"flush_packets": "1", "cluster_time_limit": str(CLUSTER_MS)}
QUEUE_LIMIT = 512
_STOP = object()


@dataclass(frozen=True)
class FileSpec:
    """What a member file is: its codec, container, file extension and MIME type, and its segment."""

    track: str  # "video" | "audio"
    codec: str
    container: str  # "webm" | "mkv"
    extension: str
    mime_type: str
    segment: int = 0

    @staticmethod
    def for_codec(track: str, codec: str, segment: int = 0) -> FileSpec:
        if codec in ("vp8", "vp9", "av1", "opus", "vorbis"):
            mime = f'{track}/webm;codecs="{codec}"'
            return FileSpec(track, codec, "webm", "webm", mime, segment)
        mime = f'{track}/x-matroska;codecs="{"avc1" if codec == "h264" else codec}"'
        return FileSpec(track, codec, "mkv", "mkv", mime, segment)

    @property
    def format_name(self) -> str:
        return "webm" if self.container == "webm" else "matroska"


@dataclass
class Segment:
    """One file of a member track, and where its first frame lies on the sender's wall clock."""

    spec: FileSpec
    path: Path
    sender_start: float | None = None  # Unix seconds per the sender's RTCP sender reports, once known
    frames: int = 0


# (spec) -> local path to write; registers the file before its first byte (see LivePipeline)
SegmentOpener = Callable[[FileSpec], Path]
ErrorCallback = Callable[[str, str], None]  # (track, "code: message")


def opus_head(channels: int = 2) -> bytes:
    """RFC 7845 5.1 identification header: the CodecPrivate Matroska needs for Opus. Pre-skip 0: what
    the browser sent is played from its first sample (an RTP receiver skips nothing either)."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 0, 48000, 0, 0)


def _muxing_stream(container: av.container.OutputContainer, frame: EncodedFrame) -> av.stream.Stream:
    """A stream for packets as they are. PyAV's `add_mux_stream` cannot carry CodecPrivate (OpusHead,
    H.264 parameter sets), so a stream is made from a template whose codec context is never opened:
    `start_encoding` copies its parameters, extradata included, into the file's header."""
    if frame.kind == "video" and frame.codec != "h264":
        stream = container.add_mux_stream(frame.codec, width=frame.width, height=frame.height)
        stream.time_base = Fraction(1, frame.clock_rate)
        return stream
    scratch = av.open(io.BytesIO(), "w", format="matroska")
    try:
        template = scratch.add_stream("libopus" if frame.kind == "audio" else "h264")
        stream = container.add_stream_from_template(template, opaque=True)
    finally:
        scratch.close()
    context: Any = stream.codec_context  # audio or video, by the template
    if frame.kind == "audio":
        context.extradata = opus_head()
        context.sample_rate = frame.clock_rate
        context.layout = "stereo"
    else:
        context.extradata = frame.parameter_sets  # Annex-B: the muxer writes avcC from it
        context.width, context.height = frame.width, frame.height
        context.pix_fmt = "yuv420p"
    stream.time_base = Fraction(1, frame.clock_rate)
    return stream


class MemberFile:
    """`put` from any thread; `close` finishes the file. `error` says why it stopped early, if it did."""

    def __init__(self, track: str, open_segment: SegmentOpener, *, on_error: ErrorCallback, name: str = "") -> None:
        if track not in ("video", "audio"):
            raise ValueError(track)
        self.track = track
        self._open_segment = open_segment
        self._on_error = on_error
        self._name = name or track
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_LIMIT)
        self._container: av.container.OutputContainer | None = None
        self._stream: av.stream.Stream | None = None
        self._spec: FileSpec | None = None
        self._size = (0, 0)
        self._t0 = 0
        self._last_pts = -1
        # pauseLiveRecord(): while paused frames are dropped; afterwards timestamps go on from the first one
        # dropped (`_skipped` ticks taken out of this segment), so the file has no gap
        self._paused = False
        self._paused_from: int | None = None
        self._skipped = 0
        self.segments: list[Segment] = []
        self.frames = 0
        self.dropped = 0
        self.waiting = 0  # frames before the first keyframe (not written)
        self.error: str | None = None
        self.last_arrival: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"memberfile-{self._name}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"MemberFile({self._name})"

    def put(self, frame: EncodedFrame) -> None:
        self.last_arrival = frame.arrived
        if self.error is not None:
            return
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 1000 == 0:
                logger.warning("%r is behind: %d frames dropped", self, self.dropped)

    def set_paused(self, paused: bool) -> None:
        """Any thread; frames already queued follow the new state (at most the queue's latency)."""
        self._paused = paused

    def close(self, timeout: float = 30) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("%r did not finish within %.0f s", self, timeout)

    @property
    def started(self) -> bool:
        return bool(self.segments)

    # --- writer thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                assert isinstance(item, EncodedFrame)
                self._write(item)
            self._finish()
        except Exception as exc:
            self.error = f"{exc.__class__.__name__}: {exc}"
            logger.exception("%r failed", self)
            self._abandon()
            try:
                self._on_error(self.track, self.error)
            except Exception:
                logger.exception("%r: error callback failed", self)
            self._drain()

    def _write(self, frame: EncodedFrame) -> None:
        if self._paused:
            if self._paused_from is None and self._spec is not None:
                self._paused_from = frame.timestamp
            return
        if self._paused_from is not None:
            if frame.kind == "video" and not frame.keyframe:
                return  # a delta frame has no reference in the file: resume on a keyframe (one is asked for)
            self._skipped += frame.timestamp - self._paused_from
            self._paused_from = None
        starts_segment = frame.kind == "video" and frame.keyframe and frame.width > 0
        if self._spec is None or frame.codec != self._spec.codec:
            if not starts_segment and frame.kind == "video":
                self.waiting += 1  # wait for a keyframe that says its size (the tap asked for one)
                return
            self._start_segment(frame)
        elif starts_segment and (frame.width, frame.height) != self._size:
            logger.info("%r: %dx%d -> %dx%d, new segment", self, *self._size, frame.width, frame.height)
            self._start_segment(frame)
        assert self._container is not None and self._stream is not None
        pts = frame.timestamp - self._t0 - self._skipped
        if pts <= self._last_pts:
            return  # a muxer refuses non-increasing timestamps (a reordered or repeated frame)
        self._last_pts = pts
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = pts
        packet.time_base = Fraction(1, frame.clock_rate)
        packet.is_keyframe = frame.keyframe
        packet.stream = self._stream
        self._container.mux(packet)
        self.frames += 1
        segment = self.segments[-1]
        segment.frames += 1
        if frame.sender_time is not None:
            # the earliest view wins (see ReceiverTap.sender_time: a busy sender's reports come late)
            start = frame.sender_time - pts / frame.clock_rate
            segment.sender_start = start if segment.sender_start is None else min(segment.sender_start, start)

    def _start_segment(self, frame: EncodedFrame) -> None:
        self._finish()
        spec = FileSpec.for_codec(self.track, frame.codec, segment=len(self.segments))
        path = self._open_segment(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(path), "w", format=spec.format_name, options=dict(MUX_OPTIONS))
        try:
            self._stream = _muxing_stream(container, frame)
            container.start_encoding()
        except Exception:
            container.close()
            raise
        self._container, self._spec = container, spec
        self._size = (frame.width, frame.height)
        self._t0, self._last_pts, self._skipped = frame.timestamp, -1, 0
        self.segments.append(Segment(spec, path))
        logger.info("%r: segment %d, %s in %s", self, spec.segment, spec.codec, spec.container)

    def _finish(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            container.close()

    def _abandon(self) -> None:
        try:
            self._finish()
        except Exception:
            logger.exception("%r: close after failure", self)

    def _drain(self) -> None:
        """Keep taking frames so that producers never block on a dead writer."""
        while True:
            try:
                if self._queue.get(timeout=60) is _STOP:
                    return
            except queue.Empty:
                return
