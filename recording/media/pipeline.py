"""One live session's media, without the network: frames in; the composite, member files and push out.

`LivePipeline` is what the aiortc side (recording/media/live_recorder.py) feeds, and what tests and the
benchmark drive directly with synthetic frames. File names come from the caller (`open_file`), which
registers each file before its first byte is written, so that a crash leaves every file findable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from recording.media.composite import CompositeConfig, CompositeEncoder
from recording.media.compositor import Compositor
from recording.media.mixer import AudioMixer
from recording.media.pause import PauseClock
from recording.media.rtmp import PushState, RtmpPusher
from recording.media.trackfile import TrackFile

logger = logging.getLogger(__name__)

# (track, account) -> local path to write; track is "composite", "video" or "audio".
FileOpener = Callable[[str, str], Path]


@dataclass(frozen=True)
class PipelineConfig:
    composite: CompositeConfig
    rtmp_url: str | None
    record: bool
    member_video_bit_rate: int = 600_000
    member_audio_bit_rate: int = 64_000
    rtmp_retry_max: float = 30.0
    rtmp_stall_seconds: float = 10.0
    rtmp_give_up_seconds: float = 0.0
    rtmp_allowed_hosts: tuple[str, ...] = ()


class LivePipeline:
    def __init__(
        self,
        config: PipelineConfig,
        *,
        open_file: FileOpener,
        on_push_state: Callable[[PushState], None] = lambda state: None,
        name: str = "",
    ) -> None:
        self.config = config
        self._open_file = open_file
        self._on_push_state = on_push_state
        self._name = name
        self.compositor = Compositor(config.composite.width, config.composite.height)
        self.mixer = AudioMixer()
        self._lock = threading.Lock()
        self._files: dict[tuple[str, str], TrackFile] = {}
        self._encoder: CompositeEncoder | None = None
        self._pusher: RtmpPusher | None = None
        self._stopped = False
        self.started_at: float | None = None
        self._pause = PauseClock()  # pauseLiveRecord(): the member files' clock

    # --- inputs (from the asyncio side) -----------------------------------------------------------------
    def set_layout(self, host: str | None, cohosts: list[str]) -> None:
        self.compositor.set_layout(host, cohosts)

    def video_frame(self, account: str, frame: av.VideoFrame, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        self._ensure_started()
        self.compositor.set_frame(account, frame)
        file = self._member_file("video", account)
        if file is not None:
            file.put(frame, self._pause.shift(at))

    def audio_samples(self, account: str, samples: np.ndarray, at: float | None = None) -> None:
        """Mono 48 kHz int16 samples of one broadcaster (see mixer.to_mono_s16)."""
        at = time.monotonic() if at is None else at
        self._ensure_started()
        self.mixer.push(account, samples)
        file = self._member_file("audio", account)
        if file is not None:
            file.put(samples, self._pause.shift(at))

    def set_media(self, account: str, *, audio: bool, video: bool) -> None:
        self.compositor.set_visible(account, video)
        self.mixer.set_muted(account, not audio)

    def forget(self, account: str) -> None:
        """A broadcaster left: out of the picture and the mix (their files stay open for a rejoin)."""
        self.compositor.forget(account)
        self.mixer.forget(account)

    def set_recording_paused(self, paused: bool) -> None:
        """Pause the recording (composite and member files), not the push; the files have no gap."""
        self._pause.set_paused(paused)
        if self._encoder is not None:
            self._encoder.gate.set_paused(paused)

    @property
    def recording_paused(self) -> bool:
        return self._pause.paused

    # --- life cycle --------------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        """The composite starts with the first media, so that its duration is the broadcast's."""
        if self._encoder is not None or self._stopped:
            return
        with self._lock:
            if self._encoder is not None or self._stopped:
                return
            path = self._open_file("composite", "") if self.config.record else None
            encoder = CompositeEncoder(self.config.composite, self.compositor, self.mixer, path=path)
            if self.config.rtmp_url:
                self._pusher = RtmpPusher(
                    self.config.rtmp_url,
                    video=encoder.video,
                    audio=encoder.audio,
                    on_state=self._on_push_state,
                    retry_max=self.config.rtmp_retry_max,
                    allowed_hosts=self.config.rtmp_allowed_hosts,
                    stall_seconds=self.config.rtmp_stall_seconds,
                    give_up_seconds=self.config.rtmp_give_up_seconds,
                    name=self._name,
                )
                encoder.add_sink(self._pusher.send)
            encoder.gate.set_paused(self._pause.paused)
            encoder.start()
            self.started_at = time.monotonic()
            self._encoder = encoder

    def _member_file(self, track: str, account: str) -> TrackFile | None:
        if not self.config.record or self._stopped or self._pause.paused:
            return None
        key = (track, account)
        file = self._files.get(key)
        if file is None:
            with self._lock:
                file = self._files.get(key)
                if file is None:
                    bit_rate = (
                        self.config.member_video_bit_rate if track == "video" else self.config.member_audio_bit_rate
                    )
                    file = TrackFile(
                        self._open_file(track, account),
                        track,
                        fps=self.config.composite.fps,
                        preset=self.config.composite.preset,
                        bit_rate=bit_rate,
                    )
                    self._files[key] = file
        return file

    def stop(self) -> None:
        """Finish everything: the composite, the push (flushed, then closed) and every member file."""
        with self._lock:
            self._stopped = True
        if self._encoder is not None:
            self._encoder.stop()
        if self._pusher is not None:
            self._pusher.stop()
        for file in self._files.values():
            file.close()
        logger.info("LivePipeline(%s) stopped", self._name)
