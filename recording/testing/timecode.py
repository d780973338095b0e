"""A sync source for lip-sync tests, and a decoder that measures flash-to-beep offsets in a recording.

The source: a fake camera (Y4M) whose picture flashes white and a fake microphone (WAV) that beeps at
1 kHz at the same instant every `PERIOD` seconds. Two additions make the measurement robust on a busy
machine, where an encoder drops frames and a broken pipeline loses whole seconds of audio:

- every video frame carries its own index as a strip of black and white blocks (`CODE_BITS` bits), so a
  frame tells which source instant it shows even when the flash frame itself was dropped;
- every beep is followed by an identifying tone (`ID_TONES`, one per period), so a beep that arrives
  2 s late is matched with its own flash, not with the next one.

`sync_offsets(path)` gives, for each beep of the file, its time minus the time of its flash (ms, the
file's own timeline): a recording of the source keeps them constant, within a few ms of the source's
own capture offset (Chromium starts its fake camera and microphone independently: tens of ms). Make the
source longer than any recording (`SYNC_SECONDS`): Chromium's fake camera repeats a frame each time its
file loops, which shifts the flashes against the beeps.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .fakefiles import MediaFiles, write_wav, write_y4m

PERIOD = 2.0
FPS = 15  # the capture rate the SDK asks for (devices.js): the fake camera then plays every frame
WIDTH, HEIGHT = 160, 120
SYNC_SECONDS = 60
RATE = 48_000
BEEP_HZ = 1000.0
BEEP_SECONDS = 0.12
ID_SECONDS = 0.12
FLASH_FRAMES = 3
CODE_BITS = 10  # frame index modulo 1024: 68 s at 15 fps
ID_TONES = tuple(2000.0 + 250.0 * k for k in range(12))  # period n: ID_TONES[n % 12]
CODE_TOP = HEIGHT * 3 // 4  # the index strip: the bottom quarter
BACKGROUND_Y = 40
WHITE_Y = 235


@dataclass(frozen=True)
class SyncSource:
    """The fake-capture files of the sync source."""

    media: MediaFiles
    period: float = PERIOD
    fps: int = FPS


def sync_media(directory: Path) -> MediaFiles:
    """Write (or reuse) the sync source's WAV and Y4M under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    wav = directory / f"sync{SYNC_SECONDS}.wav"
    y4m = directory / f"sync{SYNC_SECONDS}_{WIDTH}x{HEIGHT}_{FPS}.y4m"
    if not wav.exists():
        write_sync_wav(wav)
    if not y4m.exists():
        write_sync_y4m(y4m)
    return MediaFiles(wav=wav, y4m=y4m)


def _code_blocks(width: int) -> list[tuple[int, int]]:
    """The x ranges of the index strip's blocks, most significant bit first."""
    edges = np.linspace(0, width, CODE_BITS + 1).astype(int)
    return [(int(edges[i]), int(edges[i + 1])) for i in range(CODE_BITS)]


def write_sync_y4m(path: Path, *, seconds: int = SYNC_SECONDS) -> Path:
    """Dark frames, white for FLASH_FRAMES frames at every period, each with its index strip (4:2:0)."""
    chroma = np.full((HEIGHT // 2) * (WIDTH // 2) * 2, 128, dtype=np.uint8).tobytes()
    frames_per_period = round(PERIOD * FPS)
    blocks = _code_blocks(WIDTH)

    def frame(i: int) -> bytes:
        luma = np.full((HEIGHT, WIDTH), BACKGROUND_Y, dtype=np.uint8)
        if i % frames_per_period < FLASH_FRAMES:
            luma[:CODE_TOP] = WHITE_Y
        code = i % (1 << CODE_BITS)
        for bit, (x0, x1) in enumerate(blocks):
            on = code >> (CODE_BITS - 1 - bit) & 1
            luma[CODE_TOP:, x0:x1] = WHITE_Y if on else 16
        return luma.tobytes() + chroma

    return write_y4m(path, map(frame, range(FPS * seconds)), width=WIDTH, height=HEIGHT, fps=FPS)


def write_sync_wav(path: Path, *, seconds: int = SYNC_SECONDS) -> Path:
    """Silence, with a 1 kHz beep at every period followed by that period's identifying tone (mono)."""
    samples = np.zeros(RATE * seconds, dtype=np.float64)
    beep = np.arange(int(BEEP_SECONDS * RATE)) / RATE
    ident = np.arange(int(ID_SECONDS * RATE)) / RATE
    ramp = np.minimum(1.0, np.arange(len(ident)) / 48.0)
    for n in range(int(seconds / PERIOD)):
        start = round(n * PERIOD * RATE)
        samples[start : start + len(beep)] = 0.5 * np.sin(2 * np.pi * BEEP_HZ * beep)
        at = start + len(beep)
        tone = ID_TONES[n % len(ID_TONES)]
        samples[at : at + len(ident)] = 0.3 * ramp * ramp[::-1] * np.sin(2 * np.pi * tone * ident)
    return write_wav(path, samples, rate=RATE)


# --- measuring ------------------------------------------------------------------------------------


@dataclass
class SyncTrack:
    """What a recording holds of the sync source."""

    offsets_ms: list[float]  # per beep: beep time - its flash's time (file timeline), in file order
    beep_times: list[float]  # seconds (audio placed by its timestamps)
    flash_times: list[float]  # seconds, per period the beeps fall in
    periods: list[int]  # the source period of each offset
    audio_seconds: float  # decoded samples / rate (what a player that ignores timestamps plays)
    audio_span: float  # last audio timestamp + its duration - the first one
    video_seconds: float  # last frame's time + one frame - the first frame's time
    audio_start: float
    video_start: float
    frames: int
    coded_frames: int  # frames whose index strip could be read


def _frame_index(luma: np.ndarray) -> int | None:
    height, width = luma.shape
    top = int(height * CODE_TOP / HEIGHT)
    strip = luma[top + (height - top) // 4 : height - (height - top) // 4]
    code = 0
    for x0, x1 in _code_blocks(width):
        pad = max(1, (x1 - x0) // 4)
        level = float(strip[:, x0 + pad : x1 - pad].mean())
        if 70 < level < 180:
            return None  # blurred or in-between: unreadable
        code = code << 1 | (level >= 128)
    return code


def _decode(path: Path) -> tuple[np.ndarray, int, float, float, list[tuple[float, int | None, float]]]:
    """(audio by timestamps, rate, audio start, sample count seconds, [(frame time, index, mean luma)])."""
    pieces: list[tuple[float, np.ndarray]] = []
    rate = RATE
    frames: list[tuple[float, int | None, float]] = []
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type in ("audio", "video")]
        for frame in container.decode(*streams):
            if isinstance(frame, av.AudioFrame):
                rate = frame.sample_rate
                data = frame.to_ndarray().astype(np.float32)
                if frame.format.is_planar:
                    data = data.mean(axis=0)
                else:
                    data = data.reshape(-1, len(frame.layout.channels)).mean(axis=1)
                pieces.append((float(frame.time or 0.0), data))
            elif isinstance(frame, av.VideoFrame):
                luma = frame.to_ndarray(format="gray")
                frames.append((float(frame.time or 0.0), _frame_index(luma), float(luma.mean())))
    if not pieces:
        return np.zeros(0, np.float32), rate, 0.0, 0.0, frames
    start = pieces[0][0]
    counted = sum(len(p) for _, p in pieces) / rate
    end = max(t + len(p) / rate for t, p in pieces)
    audio = np.zeros(int((end - start) * rate) + 1, dtype=np.float32)
    for t, p in pieces:
        at = round((t - start) * rate)
        audio[at : at + len(p)] = p[: len(audio) - at]
    return audio, rate, start, counted, frames


def _band_energy(audio: np.ndarray, rate: int, hz: float, window: int, share: float = 0.5) -> np.ndarray:
    """Energy near `hz` in windows of `window` samples hopping by window // 4 (one FFT bin per window)."""
    hop = window // 4
    count = max(0, (len(audio) - window) // hop + 1)
    if count == 0:
        return np.zeros(0)
    idx = np.arange(window)[None, :] + hop * np.arange(count)[:, None]
    power = np.abs(np.fft.rfft(audio[idx] * np.hanning(window), axis=1)) ** 2
    freqs = np.fft.rfftfreq(window, 1 / rate)
    band = power[:, (freqs > hz - 150) & (freqs < hz + 150)].sum(axis=1)
    total = power[:, (freqs > 100) & (freqs < 12000)].sum(axis=1) + 1e-12
    return np.where(band / total > share, band, 0.0)


def _beeps(audio: np.ndarray, rate: int, share: float = 0.5) -> list[tuple[float, int | None]]:
    """(onset in seconds, identified period modulo len(ID_TONES) or None) of every 1 kHz beep.

    `share`: the least share of a window's power at 1 kHz (lower it for a mix, where other voices
    are heard at the same time)."""
    window = rate // 100  # 10 ms
    hop = window // 4
    energy = _band_energy(audio, rate, BEEP_HZ, window, share)
    if len(energy) == 0 or energy.max() <= 0:
        return []
    on = energy > 0.25 * np.percentile(energy[energy > 0], 90) if (energy > 0).any() else energy > 0
    out: list[tuple[float, int | None]] = []
    i = 0
    while i < len(on):
        if not on[i]:
            i += 1
            continue
        j = i
        gap = 0
        while j < len(on) and gap * hop < 0.03 * rate:  # a few unsure windows do not end a beep
            gap = 0 if on[j] else gap + 1
            j += 1
        j -= gap
        if (j - i) * hop >= 0.05 * rate:  # a beep, not a click
            # The onset to a sample: where the envelope first reaches half its peak in the window.
            lo = max(0, i * hop - window)
            envelope = np.abs(audio[lo : i * hop + window * 3])
            peak = envelope.max() if len(envelope) else 0.0
            first = int(np.argmax(envelope >= 0.5 * peak)) if peak > 0 else 0
            onset = (lo + first) / rate
            out.append((onset, _identify(audio, rate, onset)))
        i = j
    return out


def _identify(audio: np.ndarray, rate: int, onset: float) -> int | None:
    a = int((onset + BEEP_SECONDS + 0.02) * rate)
    b = a + int((ID_SECONDS - 0.04) * rate)
    piece = audio[a:b]
    if len(piece) < rate // 50:
        return None
    spectrum = np.abs(np.fft.rfft(piece * np.hanning(len(piece))))
    freqs = np.fft.rfftfreq(len(piece), 1 / rate)
    levels = [spectrum[(freqs > f - 60) & (freqs < f + 60)].max() for f in ID_TONES]
    best = int(np.argmax(levels))
    ordered = sorted(levels)
    return best if ordered[-1] > 4 * ordered[-2] else None


def measure_sync(path: Path) -> SyncTrack:
    """Flash and beep times of a recording of the sync source, and the offsets between them."""
    audio, rate, audio_start, counted, frames = _decode(path)
    frames_per_period = round(PERIOD * FPS)
    # Each readable frame says which source frame it shows: the file time of that period's flash is
    # its time minus its distance from the flash in the source.
    by_period: dict[int, list[float]] = {}
    coded = 0
    for t, index, _ in frames:
        if index is None:
            continue
        coded += 1
        by_period.setdefault(index // frames_per_period, []).append(t - (index % frames_per_period) / FPS)
    flashes = {p: float(np.median(v)) for p, v in by_period.items() if len(v) >= 3}
    offsets: list[float] = []
    beep_times: list[float] = []
    flash_times: list[float] = []
    periods: list[int] = []
    for onset, ident in _beeps(audio, rate):
        if onset < 0.02:
            continue  # cut by the start of the file: its real onset is unknown
        t = audio_start + onset
        # An identified beep may be seconds off its flash (lost time); one whose tone was cut (the file's
        # end) or drowned is matched only within half a period, never with a neighbour's flash.
        reach = PERIOD * 2.5 if ident is not None else PERIOD / 2
        candidates = [
            p for p in flashes if abs(t - flashes[p]) < reach and (ident is None or p % len(ID_TONES) == ident)
        ]
        if not candidates:
            continue
        p = min(candidates, key=lambda p: abs(t - flashes[p]))
        offsets.append(round((t - flashes[p]) * 1000, 1))
        beep_times.append(t)
        flash_times.append(flashes[p])
        periods.append(p)
    times = [t for t, _, _ in frames]
    video_span = (max(times) - min(times) + 1 / FPS) if times else 0.0
    return SyncTrack(
        offsets_ms=offsets,
        beep_times=beep_times,
        flash_times=flash_times,
        periods=periods,
        audio_seconds=counted,
        audio_span=len(audio) / rate,
        video_seconds=video_span,
        audio_start=audio_start,
        video_start=min(times) if times else 0.0,
        frames=len(frames),
        coded_frames=coded,
    )


def sync_offsets(path: Path) -> list[float]:
    """Each beep's time minus its flash's time (ms) over a recording of the sync source, in file order."""
    return measure_sync(path).offsets_ms


def audio_only_beeps(path: Path) -> list[float]:
    """Beep onsets (seconds, by timestamps) of an audio-only recording, e.g. the mix of other voices too."""
    audio, rate, start, _, _ = _decode(path)
    return [start + onset for onset, _ in _beeps(audio, rate, share=0.2)]


def audio_seconds(path: Path) -> float:
    """How long a file's audio plays: its decoded samples / rate."""
    return _decode(path)[3]


# A page-side recorder of a stream's own tracks, straight into MediaRecorder (no SDK, no relay): the
# browser's own timeline of that stream, which the SDK's recordings are compared with.
RAW_RECORDER_JS = """
() => {
  if (window.__rawRec) return;
  const chunks = {};
  const recorders = {};
  window.__rawRec = {
    start(name, stream) {
      const tracks = stream.getTracks();
      const audio = stream.getAudioTracks();
      if (audio.length) {  // remote audio flows only while played (TESTING.md)
        const el = document.createElement('audio');
        el.muted = true;
        el.srcObject = new MediaStream(audio);
        el.play().catch(() => {});
      }
      const mr = new MediaRecorder(new MediaStream(tracks), { mimeType: 'video/webm;codecs=vp8,opus' });
      chunks[name] = [];
      mr.ondataavailable = (e) => chunks[name].push(e.data);
      mr.start(1000);
      recorders[name] = mr;
    },
    async stop(name) {
      const mr = recorders[name];
      await new Promise((resolve) => { mr.onstop = resolve; mr.stop(); });
      const blob = new Blob(chunks[name]);
      return await new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => { const url = String(reader.result); resolve(url.slice(url.indexOf(',') + 1)); };
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(blob);
      });
    },
  };
}
"""


# The sync source's own capture times, in its page: each beep's onset by the microphone's AudioData
# timestamps (its capture time on the page's clock) and each frame's index with its capture time (the
# camera's VideoFrame timestamps run on another clock, the browser's monotonic one: they are moved to the
# page's by the least difference between a frame's reading and its timestamp, the frames read at once).
# What the devices did, before any recorder or muxer: the reference the recordings are held to. Called
# with a function that returns the stream, it follows the stream's video track from one camera to the
# next (a camera turned off and on again): each track's frames are a segment with their own lead.
CAPTURE_PROBE_JS = f"""
(source) => {{
  if (window.__captureProbe) return;
  const current = typeof source === 'function' ? source : () => source;
  const probe = window.__captureProbe = {{ beeps: [], frames: [], leads: [], stopped: false }};
  const W = {WIDTH}, H = {HEIGHT}, TOP = {CODE_TOP}, BITS = {CODE_BITS};
  const edges = Array.from({{ length: BITS + 1 }}, (_, i) => Math.floor((i * W) / BITS));
  const readVideo = async (track) => {{
    const segment = probe.leads.length;
    probe.leads.push(Infinity);
    const video = new MediaStreamTrackProcessor({{ track }}).readable.getReader();
    for (;;) {{
      const {{ value: frame, done }} = await video.read();
      if (done || probe.stopped) {{ frame?.close(); break; }}
      const readAt = performance.now();
      const ts = frame.timestamp / 1000;
      probe.leads[segment] = Math.min(probe.leads[segment], readAt - ts);
      if (frame.codedWidth === W && frame.codedHeight === H) {{
        const luma = new Uint8Array(frame.allocationSize());  // I420 or NV12: the luma plane comes first
        await frame.copyTo(luma);
        const y0 = TOP + Math.floor((H - TOP) / 4), y1 = H - Math.floor((H - TOP) / 4);
        let code = 0;
        for (let b = 0; b < BITS && code !== null; b++) {{
          const pad = Math.max(1, Math.floor((edges[b + 1] - edges[b]) / 4));
          let sum = 0, n = 0;
          for (let y = y0; y < y1; y++) {{
            for (let x = edges[b] + pad; x < edges[b + 1] - pad; x++) {{ sum += luma[y * W + x]; n++; }}
          }}
          const level = sum / n;
          code = level > 70 && level < 180 ? null : (code << 1) | (level >= 128 ? 1 : 0);
        }}
        if (code !== null) probe.frames.push([ts, code, segment]);
      }}
      frame.close();
    }}
  }};
  let followed = null;
  const follow = () => {{
    if (probe.stopped) {{ clearInterval(timer); return; }}
    const track = current()?.getVideoTracks()[0];
    if (track && track !== followed && track.readyState === 'live') {{ followed = track; void readVideo(track); }}
  }};
  const timer = setInterval(follow, 20);
  follow();
  const stream = current();
  const audio = new MediaStreamTrackProcessor({{ track: stream.getAudioTracks()[0] }}).readable.getReader();
  let loudUntil = -Infinity;
  (async () => {{
    for (;;) {{
      const {{ value: data, done }} = await audio.read();
      if (done || probe.stopped) {{ data?.close(); break; }}
      const x = new Float32Array(data.numberOfFrames);
      data.copyTo(x, {{ planeIndex: 0, format: 'f32-planar' }});
      for (let i = 0; i < x.length; i++) {{
        if (Math.abs(x[i]) < 0.25) continue;
        const t = data.timestamp / 1000 + (i * 1000) / data.sampleRate;
        if (t - loudUntil > 500) probe.beeps.push(t);
        loudUntil = t;
      }}
      data.close();
    }}
  }})();
}}
"""


@dataclass
class CaptureTrack:
    """The sync source's capture times, per period (CAPTURE_PROBE_JS)."""

    offsets_ms: dict[int, float]  # beep minus flash
    beeps_ms: dict[int, float]  # the beep's capture time (page clock)


def _captured_frames(probe: dict[str, Any]) -> list[tuple[float, int]]:
    """(capture time on the page's clock in ms, frame index) of every frame the probe read."""
    leads = [float(lead) for lead in probe["leads"]]
    return [(float(ts) + leads[int(segment)], int(code)) for ts, code, segment in probe["frames"]]


def capture_track(probe: dict[str, Any]) -> CaptureTrack:
    """Per period, the beep's capture time minus its flash's, from CAPTURE_PROBE_JS's `__captureProbe`
    (one camera run: a camera turned on again starts its frame indices afresh, see `capture_alignment`)."""
    frames_per_period = round(PERIOD * FPS)
    by_period: dict[int, list[float]] = {}
    for captured_at, code in _captured_frames(probe):
        at = captured_at - (code % frames_per_period) * 1000 / FPS
        by_period.setdefault(int(code) // frames_per_period, []).append(at)
    flashes = {p: float(np.median(v)) for p, v in by_period.items() if len(v) >= 3}
    offsets: dict[int, float] = {}
    beeps: dict[int, float] = {}
    for beep in probe["beeps"]:
        near = [p for p in flashes if abs(float(beep) - flashes[p]) < PERIOD * 500]
        if near:
            p = min(near, key=lambda p: abs(float(beep) - flashes[p]))
            offsets[p] = round(float(beep) - flashes[p], 1)
            beeps[p] = float(beep)
    return CaptureTrack(offsets_ms=offsets, beeps_ms=beeps)


@dataclass
class AlignedBeep:
    """A beep of a recording, held to its capture (`capture_alignment`)."""

    file_seconds: float  # where the beep starts in the file
    skew_ms: float  # how much later it lies in the file than the video captured with it (earlier if < 0)


# A beep is judged by the frames within this of it (seconds), and only with at least ALIGN_FRAMES of them.
ALIGN_SPAN = 1.0
ALIGN_FRAMES = 5


def capture_alignment(path: Path, probe: dict[str, Any]) -> list[AlignedBeep]:
    """Each beep of a recording against the video around it, relative to their capture (CAPTURE_PROBE_JS).

    Pairs no flash with a beep, so it holds across a camera turned off and on (whose frames restart at
    index 0, out of step with the microphone's beeps): each readable frame of the file is matched to the
    probe's frame of the same index nearest in time, each beep to the probe's beep nearest in time; a
    file keeps the timeline where every beep lies as far from its capture as the frames around it do."""
    audio, rate, audio_start, _, frames = _decode(path)
    captured: dict[int, list[float]] = {}
    for at, code in _captured_frames(probe):
        captured.setdefault(code, []).append(at)
    coded = [(t * 1000, index) for t, index, _ in frames if index is not None and index in captured]
    if not coded:
        return []
    # File time against page time, roughly: from the file's first frames (the first camera run, whose
    # indices are each other's first).
    rough = float(np.median([t - min(captured[index]) for t, index in coded[: FPS * 2]]))
    video: list[tuple[float, float]] = []  # (file ms, file ms - capture ms)
    for t, index in coded:
        at = min(captured[index], key=lambda c: abs(t - rough - c))
        if abs(t - rough - at) < PERIOD * 250:
            video.append((t, t - at))
    beeps = [float(b) for b in probe["beeps"]]
    out: list[AlignedBeep] = []
    for onset, _ in _beeps(audio, rate):
        if onset < 0.02 or not beeps:
            continue  # cut by the start of the file: its real onset is unknown
        t = (audio_start + onset) * 1000
        at = min(beeps, key=lambda c: abs(t - rough - c))
        near = [lag for ft, lag in video if abs(ft - t) <= ALIGN_SPAN * 1000]
        if abs(t - rough - at) < PERIOD * 250 and len(near) >= ALIGN_FRAMES:
            out.append(AlignedBeep(file_seconds=t / 1000, skew_ms=round(t - at - float(np.median(near)), 1)))
    return out


def write_sync_file(path: Path, *, seconds: float = 8.0, audio_delay: float = 0.0, drop_audio: float = 0.0) -> Path:
    """The sync source as a WebM (VP8 + Opus), its audio delayed by `audio_delay` s (ahead if negative) and,
    from the middle on, short by `drop_audio` s of samples (lost time): to check the measurement itself."""
    y4m = path.with_suffix(".y4m")
    write_sync_y4m(y4m, seconds=int(seconds) + 1)
    wav = path.with_suffix(".wav")
    write_sync_wav(wav, seconds=int(seconds) + 1)
    with wave.open(str(wav), "rb") as src:
        pcm = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2").astype(np.float32) / 32767
    if audio_delay >= 0:
        pcm = np.concatenate([np.zeros(int(audio_delay * RATE), np.float32), pcm])
    else:
        pcm = pcm[int(-audio_delay * RATE) :]
    if drop_audio:
        mid = int(seconds / 2 * RATE)
        pcm = np.concatenate([pcm[:mid], pcm[mid + int(drop_audio * RATE) :]])
    pcm = pcm[: int(seconds * RATE)]
    with av.open(str(y4m)) as source, av.open(str(path), "w", format="webm") as out:
        video = out.add_stream("libvpx", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"deadline": "realtime", "cpu-used": "8"}
        sound = out.add_stream("libopus", rate=RATE)
        sound.layout = "mono"
        for i, frame in enumerate(source.decode(video=0)):
            if i >= seconds * FPS:
                break
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(video.encode(frame.reformat(format="yuv420p")))
        out.mux(video.encode(None))
        for start in range(0, len(pcm) - 960, 960):
            chunk = av.AudioFrame.from_ndarray(pcm[start : start + 960].reshape(1, -1), format="flt", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = RATE, start, Fraction(1, RATE)
            out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))
    return path
