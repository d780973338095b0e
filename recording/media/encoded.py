"""Encoded frames as aiortc's receiver assembles them, for the recorder's own peer connections.

aiortc's `RTCRtpReceiver` reassembles RTP packets into `JitterFrame`s (one whole encoded frame, its RTP
timestamp counted from the stream's first) and hands each, in the receiver's decoder thread, to the
decoder that `aiortc.rtcrtpreceiver.get_decoder(codec)` returns; what `decode()` returns is what the
remote track yields. `install()` replaces that module global once with a lookup that gives the receivers
registered with `tap_receiver` an `EncodedTap` (every other receiver in the process keeps aiortc's own
decoder): the tap hands each frame to a sink as an `EncodedFrame` (no decoding, for the member files)
and still decodes it for the composite while `ReceiverTap.decoding` is set.

The tap also asks the sender for keyframes (a PLI at the start, again when none came for
KEYFRAME_TIMEOUT seconds, never more often than PLI_INTERVAL) and keeps the sender's last RTCP sender
report, which maps the stream's RTP timestamps to the sender's wall clock (`sender_time`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiortc.rtcrtpreceiver as rtcrtpreceiver
from aiortc import RTCRtpReceiver
from aiortc.rtp import RtcpSrPacket

from recording.media.bitstream import frame_info

logger = logging.getLogger(__name__)

KEYFRAME_TIMEOUT = 4.0
PLI_INTERVAL = 0.5
REPORTS_KEPT = 64  # about a minute of a sender's RTCP sender reports
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)
# codec names of RTP (RTCRtpCodecParameters.mimeType) to FFmpeg's
CODEC_NAMES = {"video/vp8": "vp8", "video/vp9": "vp9", "video/h264": "h264", "audio/opus": "opus"}


@dataclass(frozen=True)
class EncodedFrame:
    """One encoded frame as the browser sent it."""

    kind: str  # "video" | "audio"
    codec: str  # FFmpeg's name: vp8, vp9, h264, opus (or the RTP name when FFmpeg's is unknown)
    data: bytes
    timestamp: int  # RTP clock, counted from the stream's first frame
    clock_rate: int
    keyframe: bool
    width: int = 0
    height: int = 0
    parameter_sets: bytes = b""
    sender_time: float | None = None  # the sender's wall clock (Unix seconds) per its RTCP sender report
    arrived: float = 0.0  # time.monotonic() when the frame was complete


FrameSink = Callable[[EncodedFrame], None]


class ReceiverTap:
    """The recorder's hold on one receiver: where its encoded frames go, whether the track still gets
    decoded frames, the keyframe requests and the sender reports."""

    def __init__(self, receiver: RTCRtpReceiver, sink: FrameSink, *, loop: asyncio.AbstractEventLoop) -> None:
        self.receiver = receiver
        self.sink = sink
        self.decoding = True
        self._loop = loop
        # the latest sender reports: (sender's Unix time, absolute RTP timestamp)
        self._reports: deque[tuple[float, int]] = deque(maxlen=REPORTS_KEPT)
        self._base: tuple[int, int, float] | None = None  # (reports seen, clock rate, Unix time of RTP 0)
        self._seen = 0
        self._last_keyframe: float | None = None
        self._last_request = 0.0
        self.keyframe_requests = 0
        self._wrap_rtcp()

    def __repr__(self) -> str:
        return f"ReceiverTap({id(self.receiver):x})"

    # --- RTCP ----------------------------------------------------------------------------------------
    def _wrap_rtcp(self) -> None:
        original = self.receiver._handle_rtcp_packet
        tap = weakref.ref(self)

        async def handle(packet: Any) -> None:
            current = tap()
            if current is not None and isinstance(packet, RtcpSrPacket):
                info = packet.sender_info
                unix = (info.ntp_timestamp >> 32) - NTP_UNIX_OFFSET + (info.ntp_timestamp & 0xFFFFFFFF) / 2**32
                current._reports.append((unix, info.rtp_timestamp))
                current._seen += 1
            await original(packet)

        self.receiver._handle_rtcp_packet = handle  # type: ignore[method-assign]

    def sender_time(self, timestamp: int, clock_rate: int) -> float | None:
        """The sender's wall-clock time of a frame's (mapped) RTP timestamp, once a sender report came.

        Of the last REPORTS_KEPT reports, the one that puts RTP 0 earliest wins: a sender that stamps its
        report with the time it sends a packet rather than when it was captured (aiortc does) is late by
        its backlog when busy, never early; Chromium's reports agree to the millisecond anyway."""
        mapper = getattr(self.receiver, "_RTCRtpReceiver__timestamp_mapper", None)
        origin = getattr(mapper, "_origin", None)
        if not self._reports or origin is None:
            return None
        base = self._base
        if base is None or base[0] != self._seen or base[1] != clock_rate:
            starts = []
            for unix, rtp in list(self._reports):
                reported = (rtp - origin) % 2**32  # the report's timestamp on the mapped scale
                starts.append(unix - reported / clock_rate)
            base = (self._seen, clock_rate, min(starts))
            self._base = base
        # (mapped timestamps pass 2**32 only after 13 h at 90 kHz: sessions end long before, at
        # NETCALL_LIVE_MAX_SECONDS)
        return base[2] + timestamp / clock_rate

    # --- keyframes -----------------------------------------------------------------------------------
    def saw_frame(self, keyframe: bool) -> None:
        """Called for every video frame (decoder thread): ask for a keyframe when one is overdue."""
        now = time.monotonic()
        if keyframe:
            self._last_keyframe = now
            return
        overdue = self._last_keyframe is None or now - self._last_keyframe > KEYFRAME_TIMEOUT
        if overdue and now - self._last_request >= PLI_INTERVAL:
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Thread-safe; sent on the receiver's event loop, to every SSRC it currently receives."""
        self._last_request = time.monotonic()
        self.keyframe_requests += 1
        with contextlib.suppress(RuntimeError):  # the loop is closed: the session is over
            asyncio.run_coroutine_threadsafe(self._send_pli(), self._loop)

    async def _send_pli(self) -> None:
        try:
            for source in self.receiver.getSynchronizationSources():
                await self.receiver._send_rtcp_pli(source.source)
        except Exception:
            logger.exception("%r: keyframe request failed", self)


class EncodedTap:
    """What a tapped receiver's decoder thread calls instead of aiortc's decoder."""

    def __init__(self, codec: Any, tap: ReceiverTap, decoder: Any) -> None:
        self.kind = str(codec.mimeType).split("/", 1)[0]
        self.codec = CODEC_NAMES.get(str(codec.mimeType).lower(), str(codec.name).lower())
        self.clock_rate = int(codec.clockRate)
        self.tap = tap
        self.decoder = decoder

    def decode(self, encoded: Any) -> list[Any]:
        data = bytes(encoded.data)
        info = frame_info(self.codec, data) if self.kind == "video" else None
        if info is not None:
            self.tap.saw_frame(info.keyframe)
        frame = EncodedFrame(
            kind=self.kind,
            codec=self.codec,
            data=data,
            timestamp=int(encoded.timestamp),
            clock_rate=self.clock_rate,
            keyframe=True if info is None else info.keyframe,
            width=0 if info is None else info.width,
            height=0 if info is None else info.height,
            parameter_sets=b"" if info is None else info.parameter_sets,
            sender_time=self.tap.sender_time(int(encoded.timestamp), self.clock_rate),
            arrived=time.monotonic(),
        )
        try:
            self.tap.sink(frame)
        except Exception:
            logger.exception("%r: the encoded-frame sink failed", self.tap)
        if not self.tap.decoding:
            return []
        return list(self.decoder.decode(encoded))


_lock = threading.Lock()
_taps: weakref.WeakSet[ReceiverTap] = weakref.WeakSet()
_stock_get_decoder: Callable[[Any], Any] | None = None


def _get_decoder(codec: Any) -> Any:
    """aiortc's decoder thread calls this by the global name: pick the tap of the calling thread's receiver."""
    assert _stock_get_decoder is not None
    decoder = _stock_get_decoder(codec)
    current = threading.current_thread()
    with _lock:
        taps = list(_taps)
    for tap in taps:
        if getattr(tap.receiver, "_RTCRtpReceiver__decoder_thread", None) is current:
            return EncodedTap(codec, tap, decoder)
    return decoder


def install() -> None:
    """Put the dispatching lookup in place (once per process; idempotent)."""
    global _stock_get_decoder
    with _lock:
        if _stock_get_decoder is None:
            _stock_get_decoder = rtcrtpreceiver.get_decoder
            rtcrtpreceiver.get_decoder = _get_decoder


def tap_receiver(receiver: RTCRtpReceiver, sink: FrameSink, *, loop: asyncio.AbstractEventLoop) -> ReceiverTap:
    """Route one receiver's frames to `sink`. Register before its media flows (its decoder thread looks the
    decoder up with the first frame); keep the returned tap referenced as long as it should work."""
    install()
    tap = ReceiverTap(receiver, sink, loop=loop)
    with _lock:
        _taps.add(tap)
    return tap
