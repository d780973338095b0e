"""The RTMP push of the live mix: FLV to a relay child process, replaced with backoff when it fails.

The encoder hands every packet to `RtmpPusher.send`, which never blocks: packets wait in a bounded queue
and are dropped when the push falls behind (the recording is written elsewhere and is never affected).
A pusher thread muxes them as FLV into the stdin of `recording.media.rtmp_relay` (a child process, see
there why); a watchdog kills a child that stops accepting data (a stalled server) or does not connect
in time. After a failure the push starts again from the next keyframe, with timestamps starting at 0.

States reported through `on_state`: connecting, pushing, retrying (with attempt, delay and error),
failed (gave up after NETCALL_LIVE_RTMP_GIVE_UP_SECONDS without success), stopped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import av.container

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 600  # about 20 s of audio and video packets
REPO_ROOT = Path(__file__).resolve().parents[2]
_STOP = object()


@dataclass(frozen=True)
class PushState:
    state: str  # connecting | pushing | retrying | failed | stopped
    attempt: int = 0
    retry_in: float | None = None
    error: str = ""


StateCallback = Callable[[PushState], None]


@dataclass
class _Copy:
    data: bytes
    pts: int | None
    dts: int | None
    time_base: object
    keyframe: bool
    kind: str  # "video" | "audio"


class _PipeWriter:
    """The FLV muxer's output: the child's stdin. Records when a write started, for the watchdog."""

    def __init__(self, pipe: object) -> None:
        self.pipe = pipe
        self.write_started: float | None = None
        self.written = 0

    def write(self, data: bytes) -> int:
        self.write_started = time.monotonic()
        try:
            self.pipe.write(data)  # type: ignore[attr-defined]
            self.pipe.flush()  # type: ignore[attr-defined]
        finally:
            self.write_started = None
        self.written += len(data)
        return len(data)


class RtmpPusher:
    def __init__(
        self,
        url: str,
        *,
        video: av.VideoStream,
        audio: av.AudioStream,
        on_state: StateCallback,
        retry_max: float = 30.0,
        stall_seconds: float = 10.0,
        give_up_seconds: float = 0.0,
        allowed_hosts: tuple[str, ...] = (),
        name: str = "",
    ) -> None:
        self.url = url
        self._allowed_hosts = allowed_hosts
        self._templates = {"video": video, "audio": audio}
        self._on_state = on_state
        self._retry_max, self._stall, self._give_up = retry_max, stall_seconds, give_up_seconds
        self._name = name or "push"
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_LIMIT)
        self._stopping = threading.Event()
        self._finished = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._writer: _PipeWriter | None = None
        self._connected = threading.Event()
        self._child_error = ""
        self._started_at = 0.0
        self.state = PushState("connecting")
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"rtmp-{self._name}", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name=f"rtmp-watch-{self._name}", daemon=True)
        self._thread.start()
        self._watchdog.start()

    # --- called by the encoder ------------------------------------------------------------------------
    def send(self, packet: av.Packet, kind: str) -> None:
        if self._stopping.is_set() or self.state.state == "failed":
            return
        copy = _Copy(bytes(packet), packet.pts, packet.dts, packet.time_base, packet.is_keyframe, kind)
        try:
            self._queue.put_nowait(copy)
        except queue.Full:
            self.dropped += 1

    def stop(self, timeout: float = 5) -> None:
        """Flush what is queued to a working push, then close it (the receiver sees the stream end).

        A push that is not connected, or that does not drain within `timeout`, is cut off."""
        self._stopping.set()
        if not self._connected.is_set():
            self._kill_child()
        try:
            self._queue.put(_STOP, timeout=1)
        except queue.Full:
            self._kill_child()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._kill_child()
            self._thread.join(5)
        self._finished.set()
        self._set_state(PushState("stopped"))

    # --- pusher thread --------------------------------------------------------------------------------
    def _set_state(self, state: PushState) -> None:
        if state == self.state:
            return
        self.state = state
        logger.info("RtmpPusher(%s) %s %s", self._name, state.state, state.error)
        try:
            self._on_state(state)
        except Exception:
            logger.exception("RtmpPusher(%s) state callback failed", self._name)

    def _run(self) -> None:
        attempt = 0
        last_success = time.monotonic()
        while not self._stopping.is_set():
            attempt += 1
            self._set_state(PushState("connecting", attempt=attempt))
            error = self._push_once()
            if self._connected.is_set():
                attempt, last_success = 0, time.monotonic()
            if self._stopping.is_set():
                return
            if self._give_up and time.monotonic() - last_success > self._give_up:
                self._set_state(PushState("failed", attempt=attempt, error=error))
                self._drain()
                return
            delay = min(self._retry_max, 2.0 ** max(0, attempt - 1))
            self._set_state(PushState("retrying", attempt=max(attempt, 1), retry_in=delay, error=error))
            deadline = time.monotonic() + delay
            while not self._stopping.is_set() and time.monotonic() < deadline:
                self._discard_until(deadline)

    def _discard_until(self, deadline: float) -> None:
        """While waiting to retry, drop queued packets (a reconnect starts from a fresh keyframe)."""
        try:
            item = self._queue.get(timeout=max(0.01, min(0.5, deadline - time.monotonic())))
        except queue.Empty:
            return
        if item is _STOP:
            self._stopping.set()

    def _drain(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._queue.get(timeout=1) is _STOP:
                    return
            except queue.Empty:
                continue

    def _push_once(self) -> str:
        """One connection: returns why it ended ("" for a clean stop)."""
        self._connected.clear()
        self._child_error = ""
        self._started_at = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", "recording.media.rtmp_relay", self.url, *self._allowed_hosts],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=str(REPO_ROOT),
        )
        self._child = child
        reader = threading.Thread(target=self._read_child, args=(child,), name=f"rtmp-out-{self._name}", daemon=True)
        reader.start()
        writer = _PipeWriter(child.stdin)
        self._writer = writer
        output: av.container.OutputContainer | None = None
        error = ""
        try:
            output = av.open(writer, "w", format="flv")
            streams = {kind: output.add_stream_from_template(t) for kind, t in self._templates.items()}
            offset: dict[str, int] | None = None
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                assert isinstance(item, _Copy)
                if offset is None:
                    if item.kind != "video" or not item.keyframe or item.dts is None:
                        continue  # start every connection at a keyframe
                    offset = self._offsets(item)
                    output.start_encoding()
                packet = av.Packet(item.data)
                shift = offset[item.kind]
                if item.dts is None or item.dts < shift:
                    continue
                packet.dts = item.dts - shift
                packet.pts = (item.pts if item.pts is not None else item.dts) - shift
                packet.time_base = item.time_base  # type: ignore[assignment]
                packet.is_keyframe = item.keyframe
                packet.stream = streams[item.kind]
                output.mux(packet)
                if self._connected.is_set():
                    self._set_state(PushState("pushing"))
            output.close()
            output = None
            child.stdin.close()  # type: ignore[union-attr]
            child.wait(timeout=10)
        except (av.FFmpegError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        finally:
            if output is not None:
                with contextlib.suppress(Exception):
                    output.close()
            self._writer = None
            self._kill_child()
            reader.join(5)
        if self._child_error:
            error = self._child_error
        if not error and child.returncode not in (0, None) and not self._stopping.is_set():
            error = f"relay exited with {child.returncode}"
        return error

    def _offsets(self, first: _Copy) -> dict[str, int]:
        """Timestamp shifts that start this connection at 0, the same instant for both streams."""
        assert first.dts is not None
        seconds = float(first.dts * first.time_base)  # type: ignore[operator]
        offsets = {}
        for kind, template in self._templates.items():
            base = template.time_base
            assert base is not None
            offsets[kind] = int(seconds / float(base))
        return offsets

    def _read_child(self, child: subprocess.Popen[bytes]) -> None:
        assert child.stdout is not None
        for raw in child.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if line == "pushing":
                self._connected.set()
            elif line.startswith("error:"):
                self._child_error = line[6:].strip()[:500]
            elif line.startswith("refused:"):
                self._child_error = "refused " + line[8:].strip()[:500]

    def _kill_child(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            child.kill()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                logger.error("RtmpPusher(%s) relay %s did not die", self._name, child.pid)

    # --- watchdog -------------------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._finished.wait(0.5):
            writer, child = self._writer, self._child
            if writer is None or child is None or child.poll() is not None:
                continue
            now = time.monotonic()
            blocked = writer.write_started is not None and now - writer.write_started > self._stall
            slow_connect = not self._connected.is_set() and now - self._started_at > self._stall
            if blocked or slow_connect:
                reason = "the RTMP server stopped accepting data" if blocked else "no RTMP connection"
                self._child_error = f"{reason} within {self._stall:.0f} s"
                logger.warning("RtmpPusher(%s) %s; restarting the push", self._name, self._child_error)
                self._kill_child()
