"""Checks of recorded media by decoding it (PyAV + numpy): `measure(path)` returns what a file holds
(duration in its header and decoded, codecs, the level of each tone, the main colour, the A/V offset of a
sync source's flashes and beeps, whether it seeks) and `assert_media(path, ...)` compares that with what a
test expects, failing with a message that says what was measured against what was expected."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from .capture import RGB, colour_rgb
from .sync import SYNC_PERIOD

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


# --- what a file holds, and what a test expects of it ----------------------------------------------

DEFAULT_TONES = (440.0, 660.0, 880.0)
COLOUR_TOLERANCE = 45.0  # per channel: VP8/VP9 and scaling move a solid colour by up to about ±20
FLASH_MIN_CHANNEL = 150  # a frame whose darkest channel is this bright is a sync source's white flash
BEEP_WINDOW_SECONDS = 0.01


@dataclass
class Measurement:
    """What `measure(path)` found in a recorded file."""

    path: Path
    codecs: dict[str, str]
    header_duration: float | None  # what the container's header states; None when it states nothing
    audio_seconds: float
    video_seconds: float
    tone_levels: dict[float, float]  # tone (Hz) -> share of the audio's power near it, dB (0: all of it)
    peak_hz: float | None  # the strongest frequency of the audio
    colour: tuple[float, float, float] | None  # the median colour of the lit video frames
    flashes: list[float] = field(default_factory=list)  # a sync source's flash onsets, seconds
    beeps: list[float] = field(default_factory=list)  # its beep onsets, seconds
    av_offsets_ms: list[float] = field(default_factory=list)  # per flash: beep minus flash (+: audio late)
    seekable: bool = False  # a duration in the header, and a seek to the middle decodes (from a keyframe)

    @property
    def duration(self) -> float:
        """The decoded duration: the longer of the audio and the video."""
        return max(self.audio_seconds, self.video_seconds)

    @property
    def av_sync_ms(self) -> float | None:
        """The median A/V offset of a sync source (positive: sound after picture); None without one."""
        return float(np.median(self.av_offsets_ms)) if self.av_offsets_ms else None

    def summary(self) -> str:
        colour = None if self.colour is None else tuple(round(c) for c in self.colour)
        header = "none" if self.header_duration is None else f"{self.header_duration:.2f} s"
        levels = {f"{t:g} Hz": round(v, 1) for t, v in self.tone_levels.items()}
        sync = "no sync source" if self.av_sync_ms is None else f"A/V {self.av_sync_ms:+.0f} ms"
        return (
            f"codecs {self.codecs}, decoded {self.audio_seconds:.2f} s audio / {self.video_seconds:.2f} s video, "
            f"header {header}, tone levels {levels} dB, peak {self.peak_hz or 0:.0f} Hz, colour {colour}, {sync}"
        )


def measure(path: Path | str, *, tones: Sequence[float] = DEFAULT_TONES) -> Measurement:
    """Decode `path` and measure it (tone levels at `tones`, skipping the first second of a longer file)."""
    path = Path(path)
    decoded = decode(path)
    start = 1.0 if decoded.audio_seconds > 2.0 else 0.0
    samples = segment(decoded, start, decoded.audio_seconds)
    flashes = _flash_onsets(decoded)
    peak = _peak_hz(samples, decoded.rate)
    beeps = _beep_onsets(decoded, peak) if flashes and peak is not None else []
    colour = None
    if len(decoded.frame_colours):
        plain = decoded.frame_colours[decoded.frame_colours.min(axis=1) < FLASH_MIN_CHANNEL]
        lit = plain if len(plain) else decoded.frame_colours
        lit = lit[lit.max(axis=1) > 40] if (lit.max(axis=1) > 40).any() else lit
        colour = tuple(float(c) for c in np.median(lit, axis=0))
    header = header_duration(path)
    return Measurement(
        path=path,
        codecs=decoded.codecs,
        header_duration=header,
        audio_seconds=decoded.audio_seconds,
        video_seconds=decoded.video_seconds,
        tone_levels=tone_levels(samples, decoded.rate, [float(t) for t in tones]),
        peak_hz=peak,
        colour=colour,  # type: ignore[arg-type]
        flashes=flashes,
        beeps=beeps,
        av_offsets_ms=_pair_offsets_ms(flashes, beeps),
        seekable=header is not None and _seeks_to_middle(path, header),
    )


def assert_media(
    path: Path | str,
    *,
    duration: float | None = None,
    tolerance: float | None = None,
    tones: Mapping[float, bool] | None = None,
    colour: str | RGB | None = None,
    colour_tolerance: float = COLOUR_TOLERANCE,
    av_sync_ms: float | None = None,
    av_reference: Path | str | float | None = None,
    seekable: bool | None = None,
    codecs: Mapping[str, str] | None = None,
) -> Measurement:
    """Fail unless the file at `path` holds what is expected; return the measurement.

    - `duration` (s), within `tolerance` s (default the larger of 0.5 s and 10 %): the decoded duration,
      and the header's where it states one.
    - `tones`: `{440: True, 660: False}`: 440 Hz holds a good share of the sound (≥ -15 dB), 660 Hz none
      to speak of (≤ -35 dB).
    - `colour`: a name (`"red"`) or an RGB triple; the median colour of the picture, per channel within
      `colour_tolerance`.
    - `av_sync_ms`: the file holds a sync source (flash + beep) whose beeps are at most this far from
      its flashes (median over the file), after subtracting `av_reference`: the offset the source itself
      has (ms, or a file of it recorded where it is captured, e.g. the sync participant's own
      `record()`). Chromium's fake camera and microphone start their files independently, so a fake sync
      source is off by a different few hundred ms in every browser; record it locally as the reference.
    - `seekable`: the header states a duration and a seek to the middle decodes.
    - `codecs`: e.g. `{"audio": "opus"}`, compared with PyAV's codec names.
    """
    wanted = [float(t) for t in (tones or {})]
    found = measure(path, tones=sorted({*DEFAULT_TONES, *wanted}))
    problems: list[str] = []
    if duration is not None:
        allowed = tolerance if tolerance is not None else max(0.5, 0.1 * duration)
        for what, value in (("decoded duration", found.duration), ("header duration", found.header_duration)):
            if value is not None and abs(value - duration) > allowed:
                problems.append(f"{what} is {value:.2f} s, expected {duration:.2f} s ± {allowed:.2f} s")
    problems += tone_problems(found.tone_levels, tones or {}, peak_hz=found.peak_hz)
    if colour is not None:
        problems += colour_problems(found.colour, colour, colour_tolerance)
    if av_sync_ms is not None:
        problems += _sync_problems(found, av_sync_ms, av_reference)
    if seekable is not None and found.seekable != seekable:
        problems.append(f"seekable is {found.seekable} (header duration {found.header_duration}), expected {seekable}")
    for kind, codec in (codecs or {}).items():
        if found.codecs.get(kind) != codec:
            problems.append(f"{kind} codec is {found.codecs.get(kind)}, expected {codec}")
    if problems:
        raise AssertionError(f"{found.path.name}: " + "; ".join(problems) + f"\n  measured: {found.summary()}")
    return found


def tone_problems(
    levels: Mapping[float, float], expected: Mapping[float, bool], *, peak_hz: float | None = None
) -> list[str]:
    """What is wrong with measured tone `levels` (dB, see `tone_levels`) against `{tone: present}`."""
    problems = []
    for tone, present in expected.items():
        level = levels[float(tone)]
        if present and level < TONE_PRESENT_DB:
            peak = "" if peak_hz is None else f"; the strongest sound is at {peak_hz:.0f} Hz"
            problems.append(
                f"{tone:g} Hz missing: its level is {level:.1f} dB (present means ≥ {TONE_PRESENT_DB:.0f} dB{peak})"
            )
        elif not present and level > TONE_ABSENT_DB:
            problems.append(f"{tone:g} Hz should be absent: its level is {level:.1f} dB (> {TONE_ABSENT_DB:.0f} dB)")
    return problems


def colour_problems(
    measured: Sequence[float] | None, colour: str | RGB, tolerance: float = COLOUR_TOLERANCE
) -> list[str]:
    """What is wrong with a measured main colour against `colour` (a name or RGB), per channel."""
    rgb = colour_rgb(colour)
    name = f"{colour} {rgb}" if isinstance(colour, str) else f"{rgb}"
    if measured is None:
        return [f"expected colour {name}, but the file has no video frames"]
    if any(abs(float(g) - e) > tolerance for g, e in zip(measured, rgb, strict=True)):
        got = tuple(round(float(c)) for c in measured)
        return [f"colour is {got}, expected {name} ± {tolerance:.0f} per channel"]
    return []


def _sync_problems(found: Measurement, allowed_ms: float, reference: Path | str | float | None) -> list[str]:
    offset = found.av_sync_ms
    if offset is None:
        return [f"no sync source to measure A/V sync by: {len(found.flashes)} flashes, {len(found.beeps)} beeps"]
    if reference is None or isinstance(reference, int | float):
        base = float(reference or 0.0)
        source = "" if reference is None else f" the source's own {base:+.0f} ms,"
    else:
        reference_offset = measure(reference).av_sync_ms
        if reference_offset is None:
            return [f"the reference {Path(reference).name} holds no sync source to measure"]
        base = reference_offset
        source = f" the source's own {base:+.0f} ms ({Path(reference).name}),"
    skew = offset - base
    if abs(skew) <= allowed_ms:
        return []
    per_flash = [round(o) for o in found.av_offsets_ms]
    return [
        f"A/V offset is {skew:+.0f} ms (beeps {'after' if skew > 0 else 'before'} flashes; measured {offset:+.0f} ms "
        f"per flash {per_flash} ms less{source or ' nothing'}), expected within ±{allowed_ms:.0f} ms"
    ]


def _peak_hz(samples: np.ndarray, rate: int) -> float | None:
    if len(samples) < rate // 10 or float(np.abs(samples).max(initial=0.0)) < 1e-4:
        return None
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = (freqs > 50) & (freqs < 8000)
    return float(freqs[band][int(np.argmax(spectrum[band]))])


def _flash_onsets(decoded: Decoded) -> list[float]:
    """Times of the first frame of each run of white frames (a sync source's flashes)."""
    if not len(decoded.frame_colours):
        return []
    order = np.argsort(decoded.frame_times)
    bright = decoded.frame_colours[order].min(axis=1) >= FLASH_MIN_CHANNEL
    times = decoded.frame_times[order]
    if bright.all():
        return []  # a white picture, not a flashing one
    return [float(times[i]) for i in range(len(bright)) if bright[i] and (i == 0 or not bright[i - 1])]


def _beep_onsets(decoded: Decoded, tone_hz: float) -> list[float]:
    """Starts of the bursts of `tone_hz`, found by its frequency in 10 ms windows (other voices may be mixed in)."""
    window = int(decoded.rate * BEEP_WINDOW_SECONDS)
    count = len(decoded.audio) // window
    if count < 2:
        return []
    frames = decoded.audio[: count * window].reshape(count, window).astype(np.float64)
    t = np.arange(window) / decoded.rate
    probe = np.exp(-2j * np.pi * tone_hz * t)
    level = np.abs(frames @ probe)
    on = level > 0.3 * float(level.max())
    onsets: list[float] = []
    for i in range(count):
        start = i * BEEP_WINDOW_SECONDS
        if on[i] and (i == 0 or not on[i - 1]) and (not onsets or start - onsets[-1] > SYNC_PERIOD / 2):
            onsets.append(start)
    return onsets


def _pair_offsets_ms(flashes: list[float], beeps: list[float]) -> list[float]:
    """For each flash, the nearest beep within half a period: beep minus flash, ms."""
    out = []
    for flash in flashes:
        near = [b for b in beeps if abs(b - flash) < SYNC_PERIOD / 2]
        if near:
            beep = min(near, key=lambda b: abs(b - flash))
            out.append((beep - flash) * 1000)
    return out


def _seeks_to_middle(path: Path, duration: float) -> bool:
    middle = duration / 2
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type in ("audio", "video")]
            if not streams:
                return False
            container.seek(int(middle * av.time_base), backward=True, any_frame=False)
            for frame in container.decode(*streams):
                time = getattr(frame, "time", None)
                return time is not None and float(time) <= middle + 1.0
    except (av.error.FFmpegError, OSError):
        return False
    return False
