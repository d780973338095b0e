"""Finishing recorded files with PyAV: check by decoding, remux into a seekable file, transcode.

Plain functions over local paths; recording/library.py runs them as durable jobs and keeps the results
in storage. Memory stays bounded: packets and frames are streamed, never collected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container

logger = logging.getLogger(__name__)

# Demuxer families we accept, and what a claimed media type must be found as.
FAMILY_MATROSKA = "matroska"
FAMILY_MP4 = "mp4"
FAMILY_OTHER = {"ogg": "ogg", "mp3": "mp3", "wav": "wav", "aac": "aac", "flac": "flac"}
CLAIMED_FAMILY = {"video/webm": FAMILY_MATROSKA, "audio/webm": FAMILY_MATROSKA, "video/x-matroska": FAMILY_MATROSKA}
CLAIMED_FAMILY |= {"video/mp4": FAMILY_MP4, "audio/mp4": FAMILY_MP4, "audio/ogg": "ogg", "audio/aac": "aac"}
WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}
MEDIA_CODECS = WEBM_CODECS | {"h264", "hevc", "aac", "mp3", "flac", "pcm_s16le", "pcm_f32le", "mp4a"}
MAX_DECODE_ERRORS = 5


class MediaError(Exception):
    """The file is not the audio or video it should be; the message says why, for the library."""


@dataclass(frozen=True)
class MediaInfo:
    family: str  # "matroska", "mp4", "ogg", ...
    container: str  # "webm", "mkv", "mp4", "m4a", ...
    video_codec: str
    audio_codec: str
    duration: float | None
    video_frames: int
    audio_frames: int
    truncated: bool

    def recording_fields(self) -> dict[str, Any]:
        """The Recording fields a decode check fills in (the upload and live finishing jobs alike)."""
        return {
            "container": self.container,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "duration": self.duration,
        }

    @property
    def remux_format(self) -> str | None:
        """The muxer of a seekable rendition (same container), or None when it needs none."""
        return {"webm": "webm", "mkv": "matroska", "mp4": "mp4", "m4a": "mp4"}.get(self.container)


def _family(format_name: str) -> str:
    names = set(format_name.split(","))
    if "matroska" in names or "webm" in names:
        return FAMILY_MATROSKA
    if "mov" in names or "mp4" in names:
        return FAMILY_MP4
    for name, family in FAMILY_OTHER.items():
        if name in names:
            return family
    return format_name


def decodable_frames(
    container: av.container.InputContainer, streams: Sequence[av.VideoStream | av.AudioStream]
) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """The frames of the video and audio `streams` in file order, a packet that fails to decode
    skipped; a damaged tail (the demuxer's error) still raises, for the caller to end its pass there."""
    for packet in container.demux(list(streams)):
        try:
            frames = packet.decode()
        except av.FFmpegError:
            continue
        for frame in frames:
            if isinstance(frame, (av.VideoFrame, av.AudioFrame)):
                yield frame


def media_inspect(path: Path, *, claimed_type: str = "") -> MediaInfo:
    """Decode every packet of every audio and video stream; MediaError if it isn't real media.

    A file cut off mid-packet (a tab that died) decodes up to the cut and is reported `truncated`.
    """
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"not an audio or video file ({exc.__class__.__name__}: {exc})") from None
    with container:
        family = _family(container.format.name)
        claimed = claimed_type.split(";", 1)[0].strip().lower()
        expected = CLAIMED_FAMILY.get(claimed)
        if expected is not None and family != expected:
            raise MediaError(f"claimed to be {claimed} but is {container.format.name}")
        if expected is None and family not in (FAMILY_MATROSKA, FAMILY_MP4, *FAMILY_OTHER.values()):
            raise MediaError(f"container {container.format.name} is not an audio or video format we keep")
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        video = next((s for s in streams if s.type == "video"), None)
        audio = next((s for s in streams if s.type == "audio"), None)
        for stream in streams:
            if stream.codec_context.name not in MEDIA_CODECS:
                raise MediaError(f"stream codec {stream.codec_context.name} is not an audio or video codec we keep")
        if not streams:
            raise MediaError("no audio or video stream")
        counts = {"video": 0, "audio": 0}
        start: float | None = None
        end: float | None = None
        errors = 0
        truncated = False
        try:
            for packet in container.demux(streams):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    errors += 1
                    if errors > MAX_DECODE_ERRORS:
                        raise MediaError("too many packets fail to decode") from None
                    continue
                for frame in frames:
                    counts[packet.stream.type] += 1
                    time = getattr(frame, "time", None)
                    if time is not None:
                        start = time if start is None else min(start, time)
                        end = time if end is None else max(end, time)
        except av.FFmpegError as exc:
            if not any(counts.values()):
                raise MediaError(f"nothing decodes ({exc})") from None
            truncated = True
        if not any(counts.values()):
            raise MediaError("no audio or video frame decodes")
        duration = None if start is None or end is None else max(0.0, end - start)
        video_codec = video.codec_context.name if video is not None else ""
        audio_codec = audio.codec_context.name if audio is not None else ""
        if family == FAMILY_MATROSKA:
            codecs = {video_codec, audio_codec} - {""}
            name = "webm" if codecs <= WEBM_CODECS else "mkv"
        elif family == FAMILY_MP4:
            name = "mp4" if video is not None else "m4a"
        else:
            name = family
        return MediaInfo(
            family=family,
            container=name,
            video_codec=video_codec,
            audio_codec=audio_codec,
            duration=duration,
            video_frames=counts["video"],
            audio_frames=counts["audio"],
            truncated=truncated,
        )


def media_remux(source: Path, target: Path, *, format_name: str) -> None:
    """Copy every audio and video packet into a new file written in one pass to a seekable file, so the
    muxer writes duration and index (Cues for WebM, `moov` before the data for MP4). No re-encoding."""
    options = {"movflags": "+faststart"} if format_name == "mp4" else {}
    with av.open(str(source), "r") as src, av.open(str(target), "w", format=format_name, options=options) as out:
        mapping = {}
        for stream in src.streams:
            if stream.type in ("video", "audio"):
                mapping[stream.index] = out.add_stream_from_template(stream)
        if not mapping:
            raise MediaError("no audio or video stream to remux")
        last_dts: dict[int, int] = {}
        try:
            for packet in src.demux([s for s in src.streams if s.index in mapping]):
                if packet.dts is None or packet.size == 0:
                    continue
                index = packet.stream.index
                if index in last_dts and packet.dts <= last_dts[index]:
                    continue  # a muxer refuses non-increasing timestamps; MediaRecorder seldom sends any
                last_dts[index] = packet.dts
                packet.stream = mapping[index]
                out.mux(packet)
        except av.FFmpegError as exc:
            logger.info("Remux of %s stopped at a damaged tail: %s", source.name, exc)


def media_transcode(source: Path, target: Path, *, audio_only: bool) -> None:
    """Re-encode into MP4: H.264 + AAC, or AAC alone in an `.m4a` (audio_only)."""
    with (
        av.open(str(source), "r") as src,
        av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        in_video = None if audio_only else next(iter(src.streams.video), None)
        in_audio = next(iter(src.streams.audio), None)
        if in_video is None and in_audio is None:
            raise MediaError("nothing to transcode")
        out_video = out_audio = None
        if in_video is not None:
            out_video = out.add_stream("libx264", rate=30, options={"preset": "veryfast", "crf": "23"})
            out_video.width = in_video.width // 2 * 2
            out_video.height = in_video.height // 2 * 2
            out_video.pix_fmt = "yuv420p"
            out_video.codec_context.time_base = Fraction(1, 1000)
        resampler = None
        if in_audio is not None:
            out_audio = out.add_stream("aac", rate=48000)
            out_audio.bit_rate = 128_000
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        last_video_pts = -1
        audio_samples = 0
        streams = [s for s in (in_video, in_audio) if s is not None]
        try:
            for frame in decodable_frames(src, streams):
                if isinstance(frame, av.VideoFrame) and out_video is not None:
                    pts = round((frame.time or 0.0) * 1000)
                    if pts <= last_video_pts:
                        continue
                    last_video_pts = pts
                    image = frame.reformat(width=out_video.width, height=out_video.height, format="yuv420p")
                    image.pts = pts
                    image.time_base = Fraction(1, 1000)
                    out.mux(out_video.encode(image))
                elif isinstance(frame, av.AudioFrame) and out_audio is not None and resampler is not None:
                    frame.pts = None
                    for resampled in resampler.resample(frame):
                        resampled.pts = audio_samples
                        resampled.time_base = Fraction(1, 48000)
                        audio_samples += resampled.samples
                        out.mux(out_audio.encode(resampled))
        except av.FFmpegError as exc:
            logger.info("Transcode of %s stopped at a damaged tail: %s", source.name, exc)
        if out_video is not None:
            out.mux(out_video.encode(None))
        if out_audio is not None:
            out.mux(out_audio.encode(None))
