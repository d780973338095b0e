"""One live session's media, without the network: frames in; the composite, member files and push out.

`LivePipeline` is what the aiortc side (recording/media/live_recorder.py) feeds, and what tests and the
benchmark drive directly with synthetic frames: decoded frames for the composite (`video_frame`,
`audio_samples`), encoded frames as the browser sent them for the member files (`encoded_frame`, see
encoded.py and memberfile.py). File names come from the caller (`open_file`), which registers each file
before its first byte is written, so that a crash leaves every file findable. Every file is opened in
its writer's own thread, never in the caller's.
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
from recording.media.encoded import EncodedFrame
from recording.media.memberfile import FileSpec, MemberFile
from recording.media.mixer import AudioMixer
from recording.media.rtmp import PushState, RtmpPusher

logger = logging.getLogger(__name__)

# (account, what the file is) -> local path to write; spec.track is "composite", "video" or "audio".
FileOpener = Callable[[str, FileSpec], Path]
# (track, account, "code: message") of a file whose writer failed mid-session
FileErrorCallback = Callable[[str, str, str], None]
COMPOSITE_SPEC = FileSpec("composite", "h264", "mp4", "mp4", 'video/mp4;codecs="avc1,mp4a.40.2"')


@dataclass(frozen=True)
class PipelineConfig:
    composite: CompositeConfig
    rtmp_url: str | None
    record: bool
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
        on_file_error: FileErrorCallback = lambda track, account, error: None,
        name: str = "",
    ) -> None:
        self.config = config
        self._open_file = open_file
        self._on_push_state = on_push_state
        self._on_file_error = on_file_error
        self._name = name
        self.mixer = AudioMixer()
        self.compositor = Compositor(
            config.composite.width, config.composite.height, playout_offset=self.mixer.playout_offset
        )
        self._lock = threading.Lock()
        self._files: dict[tuple[str, str], MemberFile] = {}
        self._encoder: CompositeEncoder | None = None
        self._pusher: RtmpPusher | None = None
        self._stopped = False
        self.started_at: float | None = None
        self._paused = False  # pauseLiveRecord(): the files pause, the push does not

    # --- inputs (from the asyncio side) -----------------------------------------------------------------
    def set_layout(self, host: str | None, cohosts: list[str]) -> None:
        self.compositor.set_layout(host, cohosts)

    def video_frame(self, account: str, frame: av.VideoFrame, sender_time: float | None = None) -> None:
        """A decoded frame of a broadcaster, for the composite; `sender_time` (the sender's clock, from its
        RTCP sender reports) lines it up with the same member's audio."""
        self._ensure_started()
        self.compositor.set_frame(account, frame, sender_time)

    def audio_samples(self, account: str, samples: np.ndarray, sender_time: float | None = None) -> None:
        """Mono 48 kHz int16 samples of one broadcaster (see mixer.to_mono_s16), for the composite."""
        self._ensure_started()
        self.mixer.push(account, samples, sender_time)

    def encoded_frame(self, account: str, frame: EncodedFrame) -> None:
        """An encoded frame as the browser sent it, for the member's file (any thread)."""
        file = self._member_file(frame.kind, account)
        if file is not None:
            file.put(frame)

    def set_media(self, account: str, *, audio: bool, video: bool) -> None:
        self.compositor.set_visible(account, video)
        self.mixer.set_muted(account, not audio)

    def forget(self, account: str) -> None:
        """A broadcaster left: out of the picture and the mix (their files stay open for a rejoin)."""
        self.compositor.forget(account)
        self.mixer.forget(account)

    def set_recording_paused(self, paused: bool) -> None:
        """Pause the recording (composite and member files), not the push; the files have no gap."""
        with self._lock:
            self._paused = paused
            files = list(self._files.values())
        if self._encoder is not None:
            self._encoder.gate.set_paused(paused)
        for file in files:
            file.set_paused(paused)

    @property
    def recording_paused(self) -> bool:
        return self._paused

    # --- life cycle --------------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        """The composite starts with the first media, so that its duration is the broadcast's."""
        if self._encoder is not None or self._stopped:
            return
        with self._lock:
            if self._encoder is not None or self._stopped:
                return
            record = self.config.record
            encoder = CompositeEncoder(
                self.config.composite,
                self.compositor,
                self.mixer,
                open_path=lambda: self._open_file("", COMPOSITE_SPEC) if record else None,
                on_open=self._encoder_opened,
                on_error=lambda error: self._on_file_error("composite", "", error),
            )
            encoder.gate.set_paused(self._paused)
            encoder.start()
            self.started_at = time.monotonic()
            self._encoder = encoder

    def _encoder_opened(self, encoder: CompositeEncoder) -> None:
        """In the encoder thread, once its encoders exist: the push starts from their parameters."""
        if not self.config.rtmp_url or encoder.video is None or encoder.audio is None:
            return
        with self._lock:
            if self._stopped:
                return
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

    def _member_file(self, track: str, account: str) -> MemberFile | None:
        if not self.config.record or self._stopped:
            return None
        key = (track, account)
        file = self._files.get(key)
        if file is None:
            with self._lock:
                file = self._files.get(key)
                if file is None and not self._stopped and not self._paused:
                    # (a file opened while paused would start at the resume: nothing to write before it)
                    file = MemberFile(
                        track,
                        lambda spec: self._open_file(account, spec),
                        on_error=lambda failed, error: self._on_file_error(failed, account, error),
                        name=f"{self._name}-{account}-{track}",
                    )
                    self._files[key] = file
        return file

    def member_files(self) -> dict[tuple[str, str], MemberFile]:
        """(track, account) -> its writer, for the account of what was recorded."""
        with self._lock:
            return dict(self._files)

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
