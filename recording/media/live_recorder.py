"""The server recorder of one live session: the `#recorder` member, speaking WebRTC with aiortc.

It joins nothing itself: the host's join created its member row, whose channel_name is this session's
channel. It listens there for the room's events (it is in the room's group) and for the signals live
members send it; it answers their offers (it is always the polite, answering side and sends no media),
feeds their decoded audio and video into a LivePipeline for the composite and their encoded frames, as
the browser sent them, into the member files (encoded.py taps exactly this recorder's receivers), reports
the push state and any file that failed to the host, keeps its member and session alive with heartbeats,
and ends when the host leaves, the channel has no broadcaster left, the maximum duration passes, or the
session is taken from it. At the end it accounts for every file it expected: each host's and co-host's
track that was announced gets its files or a row saying why there are none (or why they end early).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from recording.library import storage
from recording.live import jobs as live_jobs
from recording.live import services as live
from recording.media.composite import CompositeConfig
from recording.media.encoded import ReceiverTap, tap_receiver
from recording.media.memberfile import FileSpec
from recording.media.mixer import new_resampler, to_mono_s16
from recording.media.pipeline import LivePipeline, PipelineConfig
from recording.media.rtmp import PushState
from recording.models import Member
from recording.models.live import LiveSession
from recording.names import is_server_account, room_group_name
from recording.signalling import protocol, rooms

logger = logging.getLogger(__name__)

FINISH_TIMEOUT = 120.0


@dataclass
class _Person:
    session: str
    role: str
    audio: bool = True
    video: bool = True
    joined_at: str = ""


@dataclass
class _Peer:
    account: str
    session: str
    pc: RTCPeerConnection
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    taps: list[ReceiverTap] = field(default_factory=list)


def _ice_servers() -> list[RTCIceServer]:
    servers = []
    for entry in settings.NETCALL_ICE_SERVERS:
        if isinstance(entry, dict) and entry.get("urls"):
            servers.append(
                RTCIceServer(urls=entry["urls"], username=entry.get("username"), credential=entry.get("credential"))
            )
    return servers


def pipeline_config(*, rtmp_url: str | None, record: bool) -> PipelineConfig:
    return PipelineConfig(
        composite=CompositeConfig(
            width=settings.NETCALL_LIVE_WIDTH,
            height=settings.NETCALL_LIVE_HEIGHT,
            fps=settings.NETCALL_LIVE_FPS,
            video_bit_rate=settings.NETCALL_LIVE_VIDEO_BITRATE,
            audio_bit_rate=settings.NETCALL_LIVE_AUDIO_BITRATE,
            preset=settings.NETCALL_LIVE_X264_PRESET,
        ),
        rtmp_url=rtmp_url or None,
        record=record,
        rtmp_retry_max=float(settings.NETCALL_LIVE_RTMP_RETRY_MAX_SECONDS),
        rtmp_stall_seconds=float(settings.NETCALL_LIVE_RTMP_STALL_SECONDS),
        rtmp_give_up_seconds=float(settings.NETCALL_LIVE_RTMP_GIVE_UP_SECONDS),
        rtmp_allowed_hosts=tuple(settings.NETCALL_LIVE_RTMP_ALLOWED_HOSTS),
    )


class LiveRecorder:
    def __init__(self, session_id: str, layer: Any) -> None:
        self.session_id = session_id
        self.layer = layer
        self.people: dict[str, _Person] = {}
        self.peers: dict[str, _Peer] = {}
        self._pending: set[asyncio.Task[Any]] = set()
        self._media_started = False
        self.pipeline: LivePipeline | None = None
        self.expected: dict[str, set[str]] = {}  # account -> the tracks it announced while a broadcaster
        self.peered: set[str] = set()  # accounts that ever opened a peer connection to us
        self.left_at: dict[str, float] = {}  # account -> when it left (time.monotonic()), while gone
        # The room's events come on a channel of our own: `self.channel` (the `#recorder` member's, named when
        # the host joined) may be a durable queue that no group can hold (recording/signalling/redis_layer.py).
        self.events_channel: str | None = None

    def __repr__(self) -> str:
        return f"LiveRecorder({self.session_id[:8]})"

    # --- main loop ------------------------------------------------------------------------------------
    async def _claim(self) -> LiveSession | None:
        session = await database_sync_to_async(live.live_claim)(session_id=self.session_id)
        if session is None:
            logger.info("%r: not claimable (another worker has it, or it is over)", self)
            return None
        self.loop = asyncio.get_running_loop()
        self.channel, self.room_id, self.host = session.worker_channel, session.room_id, session.host
        self.recorder_session = session.recorder_session
        self.record = session.record
        self.group = room_group_name(session.channel)
        return session

    async def run(self, *, admit: Callable[[], str | None] | None = None) -> None:
        """Claim the session and record it until it ends. `admit`, asked once the session is claimed, may
        give a reason to end it at once instead (the worker is full): `#recorder` leaves, the host gets
        `live.state` `ended` with that reason, and nothing is recorded."""
        session = await self._claim()
        if session is None:
            return
        refusal = admit() if admit is not None else None
        if refusal is not None:
            await self._finish(refusal)
            return
        self.events_channel = await self.layer.new_channel("recorder.")
        await self.layer.group_add(self.group, self.events_channel)
        for member in await database_sync_to_async(live.live_members)(room_id=self.room_id):
            if not is_server_account(member.account):
                self._set_person(
                    member.account,
                    _Person(member.session, member.role, member.audio, member.video, member.joined_at.isoformat()),
                )
        self.pipeline = LivePipeline(
            pipeline_config(rtmp_url=session.rtmp_url, record=session.record),
            open_file=self._open_file,
            on_push_state=self._push_state_from_thread,
            on_file_error=self._file_error_from_thread,
            name=self.session_id[:8],
        )
        self._layout()
        logger.info("%r: live in %s, host %s, record=%s", self, session.channel, self.host, self.record)
        reason = "error"
        try:
            reason = await self._loop()
        except asyncio.CancelledError:
            reason = "worker_stopped"
            raise
        except Exception:
            logger.exception("%r failed", self)
        finally:
            await asyncio.shield(self._finish(reason))

    async def _loop(self) -> str:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def receive(channel: str) -> None:
            while True:
                await inbox.put(await self.layer.receive(channel))

        assert self.events_channel is not None
        receivers = [asyncio.create_task(receive(self.channel)), asyncio.create_task(receive(self.events_channel))]
        try:
            deadline = time.monotonic() + settings.NETCALL_LIVE_MAX_SECONDS
            heartbeat_every = float(settings.NETCALL_LIVE_HEARTBEAT_SECONDS)
            next_beat = time.monotonic() + heartbeat_every
            if self.host not in self.people:
                return "host_left"
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return "max_duration"
                if now >= next_beat:
                    next_beat = now + heartbeat_every
                    alive = await database_sync_to_async(live.live_heartbeat)(
                        session_id=self.session_id, recorder_session=self.recorder_session
                    )
                    if not alive:
                        return "taken_over"
                try:
                    message = await asyncio.wait_for(inbox.get(), timeout=max(0.05, min(next_beat, deadline) - now))
                except TimeoutError:
                    continue
                for receiver in receivers:
                    if receiver.done():
                        receiver.result()
                reason = await self._handle(message)
                if reason is not None:
                    return reason
        finally:
            for receiver in receivers:
                receiver.cancel()

    async def _handle(self, message: dict[str, Any]) -> str | None:
        kind = message.get("type")
        frame = message.get("frame") or {}
        if kind == "member.signal" and frame.get("type") == "signal":
            try:
                await self._signal(str(frame.get("from")), str(frame.get("fromSession")), frame.get("data") or {})
            except Exception:
                logger.exception("%r: signal from %s failed", self, frame.get("from"))
            return None
        if kind == "live.stop":
            return str(message.get("reason") or "stopped")
        if kind in ("live.pause", "live.resume"):
            await self._pause_recording(kind == "live.pause")
            return None
        if kind != "room.event":
            return None
        event = frame.get("type")
        if event in ("member.joined", "member.updated"):
            wire = frame["member"]
            account = wire["account"]
            if is_server_account(account):
                return None
            media = wire.get("media") or {}
            person = _Person(wire["session"], wire["role"], bool(media.get("audio")), bool(media.get("video")))
            previous = self.people.get(account)
            person.joined_at = (
                previous.joined_at if previous and event == "member.updated" else wire.get("joinedAt", "")
            )
            self._set_person(account, person)
            peer = self.peers.get(account)
            if peer is not None and (peer.session != person.session or person.role not in Member.LIVE_ROLES):
                await self._drop_peer(account)
            if self.pipeline is not None:
                self.pipeline.set_media(account, audio=person.audio, video=person.video)
            self._layout()
        elif event == "member.left":
            account = frame["account"]
            gone = self.people.get(account)
            if gone is None or gone.session != frame.get("session"):
                return None
            del self.people[account]
            self.left_at[account] = time.monotonic()
            await self._drop_peer(account)
            self._layout()
            if account == self.host:
                return "host_left"
            if not any(p.role in Member.LIVE_ROLES for p in self.people.values()):
                return "empty"
        return None

    def _set_person(self, account: str, person: _Person) -> None:
        self.people[account] = person
        self.left_at.pop(account, None)
        if person.role in Member.LIVE_ROLES:
            tracks = self.expected.setdefault(account, set())
            tracks.update(track for track, on in (("audio", person.audio), ("video", person.video)) if on)

    async def _pause_recording(self, paused: bool) -> None:
        """The host's pauseLiveRecord() / resumeLiveRecord(): the files pause, the push goes on."""
        if self.pipeline is None or not self.record or self.pipeline.recording_paused == paused:
            return
        self.pipeline.set_recording_paused(paused)
        if not paused:  # the member files go on from a keyframe
            for peer in self.peers.values():
                for tap in peer.taps:
                    if tap.receiver.track.kind == "video":
                        tap.request_keyframe()
        intervals = await database_sync_to_async(live.live_record_mark_paused)(
            session_id=self.session_id, paused=paused
        )
        logger.info("%r: recording %s", self, "paused" if paused else "resumed")
        record = {
            "recorder": live.RECORDER_ACCOUNT,
            "target": None,
            "kind": "live",
            "startedAt": None,
            "paused": paused,
            "pausedIntervals": intervals,
        }
        frame = protocol.record_state(state="paused" if paused else "resumed", record=record)
        await self.layer.group_send(self.group, protocol.room_event(frame))

    def _layout(self) -> None:
        if self.pipeline is None:
            return
        ordered = sorted(self.people.items(), key=lambda item: item[1].joined_at)
        host = self.host if self.host in self.people else None
        cohosts = [a for a, p in ordered if p.role == Member.Role.COHOST]
        self.pipeline.set_layout(host, cohosts)

    # --- WebRTC -----------------------------------------------------------------------------------------
    async def _signal(self, account: str, session: str, data: dict[str, Any]) -> None:
        person = self.people.get(account)
        if person is None or person.session != session:
            await self._refresh(account)
            person = self.people.get(account)
        if person is None or person.session != session:
            logger.info("%r: signal from a stale session of %s dropped", self, account)
            return
        if person.role not in Member.LIVE_ROLES:
            logger.info("%r: %s is not a host or co-host; not recorded", self, account)
            return
        peer = self.peers.get(account)
        if peer is not None and peer.session != session:
            await self._drop_peer(account)
            peer = None
        description = data.get("description")
        if isinstance(description, dict):
            if peer is not None and data.get("reset") is True and description.get("type") == "offer":
                await self._drop_peer(account)  # the client rebuilt its connection: so do we
                peer = None
            if peer is None:
                peer = self._new_peer(account, session)
            await peer.pc.setRemoteDescription(
                RTCSessionDescription(sdp=str(description["sdp"]), type=str(description["type"]))
            )
            if description["type"] == "offer":
                await peer.pc.setLocalDescription(await peer.pc.createAnswer())
                local = peer.pc.localDescription
                await self._send_signal(account, {"description": {"type": local.type, "sdp": local.sdp}})
            return
        candidate = data.get("candidate")
        if peer is not None and isinstance(candidate, dict) and candidate.get("candidate"):
            text = str(candidate["candidate"])
            parsed = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
            parsed.sdpMid = candidate.get("sdpMid")
            parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
            await peer.pc.addIceCandidate(parsed)

    async def _refresh(self, account: str) -> None:
        for member in await database_sync_to_async(live.live_members)(room_id=self.room_id):
            if member.account == account:
                self._set_person(
                    account,
                    _Person(member.session, member.role, member.audio, member.video, member.joined_at.isoformat()),
                )
                self._layout()

    def _new_peer(self, account: str, session: str) -> _Peer:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=_ice_servers()))
        peer = _Peer(account, session, pc)
        self.peers[account] = peer
        self.peered.add(account)
        pipeline = self.pipeline
        assert pipeline is not None

        def to_file(frame: Any) -> None:  # in the receiver's decoder thread
            pipeline.encoded_frame(account, frame)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            # The track's receiver starts decoding once connected: tapped now, its frames are also written
            # as received (and it is asked for a keyframe to start each video file on).
            tap = None
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is track:
                    tap = tap_receiver(transceiver.receiver, to_file, loop=asyncio.get_running_loop())
                    peer.taps.append(tap)
            peer.tasks.append(asyncio.ensure_future(self._consume(account, track, tap)))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            logger.info("%r: peer %s %s", self, account, pc.connectionState)

        return peer

    async def _drop_peer(self, account: str) -> None:
        peer = self.peers.pop(account, None)
        if self.pipeline is not None:
            self.pipeline.forget(account)
        if peer is None:
            return
        for task in peer.tasks:
            task.cancel()
        await peer.pc.close()

    async def _consume(self, account: str, track: MediaStreamTrack, tap: ReceiverTap | None) -> None:
        resampler = new_resampler()
        pipeline = self.pipeline
        assert pipeline is not None
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not self._media_started:
                self._media_started = True
                self._spawn(database_sync_to_async(live.live_mark_started)(session_id=self.session_id))
            sender_time = None
            if tap is not None and frame.pts is not None and frame.time_base is not None:
                # the frame's RTP timestamp on the sender's clock: the composite lines audio and video up by it
                sender_time = tap.sender_time(int(frame.pts), int(frame.time_base.denominator))
            if track.kind == "video":
                pipeline.video_frame(account, frame, sender_time)  # type: ignore[arg-type]
            else:
                pipeline.audio_samples(account, to_mono_s16(resampler, frame), sender_time)  # type: ignore[arg-type]

    async def _send_signal(self, account: str, data: dict[str, Any]) -> None:
        target = await database_sync_to_async(rooms.member_channel)(room_id=self.room_id, account=account)
        if target is None:
            return
        frame = protocol.signal(sender=live.RECORDER_ACCOUNT, sender_session=self.recorder_session, data=data)
        await self.layer.send(target[0], protocol.member_signal(frame))

    # --- files and push state ---------------------------------------------------------------------------
    def _spawn(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _open_file(self, account: str, spec: FileSpec) -> Path:
        """Called by the pipeline (in a writer thread) before it writes a file: register it first."""
        recording_id = str(uuid.uuid4())
        name = storage.live_spool_name(self.session_id, recording_id, spec.extension)
        started = timezone.now()
        register = database_sync_to_async(live.live_file_open)
        self.loop.call_soon_threadsafe(
            self._spawn,
            register(
                session_id=self.session_id,
                recording_id=recording_id,
                track=spec.track,
                account=account,
                spool_name=name,
                started_at=started,
                container=spec.container,
                mime_type=spec.mime_type,
                codec=spec.codec,
                segment=spec.segment,
            ),
        )
        return storage.live_spool_path(name)

    def _file_error_from_thread(self, track: str, account: str, error: str) -> None:
        self.loop.call_soon_threadsafe(self._spawn, self._report_file_error(track, account, error))

    async def _report_file_error(self, track: str, account: str, error: str) -> None:
        """A writer failed mid-session: recorded at once, the host told; every other file goes on."""
        logger.error("%r: the %s file of %s failed: %s", self, track, account or "mix", error)
        others = [task for task in self._pending if task is not asyncio.current_task()]
        await asyncio.gather(*others, return_exceptions=True)  # its row must exist first
        await database_sync_to_async(live.live_file_failed)(
            session_id=self.session_id, track=track, account=account, reason="writer_failed", detail=error
        )
        await self._tell_host(
            protocol.live_state(
                session=self.session_id,
                state="recording_failed",
                recording=self.record,
                error="recording_failed",
                track=track,
                account=account or None,
            )
        )

    def _push_state_from_thread(self, state: PushState) -> None:
        self.loop.call_soon_threadsafe(self._spawn, self._report_push(state))

    async def _report_push(self, state: PushState) -> None:
        await database_sync_to_async(live.live_set_push_state)(
            session_id=self.session_id, state=state.state, error=state.error
        )
        await self._tell_host(
            protocol.live_state(
                session=self.session_id,
                state=state.state,
                recording=self.record,
                attempt=state.attempt,
                retryIn=state.retry_in,
                # The host learns that the target is unreachable, never how (open, closed or filtered
                # ports would tell a prober what is there); the cause is in the log and the admin.
                error="rtmp_unreachable" if state.error else None,
            )
        )

    async def _tell_host(self, frame: dict[str, Any]) -> None:
        target = await database_sync_to_async(rooms.member_channel)(room_id=self.room_id, account=self.host)
        if target is not None:
            await self.layer.send(target[0], protocol.room_event(frame))

    # --- the end ----------------------------------------------------------------------------------------
    def _outcomes(self, ended: float) -> list[live.FileOutcome]:
        """Every track a host or co-host announced: complete, ended early (and why), or never written."""
        files = self.pipeline.member_files() if self.pipeline is not None else {}
        timeout = float(settings.NETCALL_LIVE_MEDIA_TIMEOUT_SECONDS)
        outcomes = []
        for account, tracks in sorted(self.expected.items()):
            for track in sorted(tracks):
                file = files.get((track, account))
                starts = tuple(segment.sender_start for segment in file.segments) if file is not None else ()
                reason = detail = ""
                if file is None or not file.started:
                    if account not in self.peered:
                        reason, detail = "never_joined_recorder", "no connection to the recorder was made"
                    else:
                        reason, detail = "no_media", f"no {track} arrived"
                        if file is not None and file.waiting:
                            detail = f"{file.waiting} {track} frames arrived, no keyframe to start the file on"
                elif file.error is not None:
                    reason, detail = "writer_failed", file.error
                elif file.last_arrival is not None:
                    until = self.left_at.get(account, ended)
                    silent = until - file.last_arrival
                    if silent > timeout:
                        reason, detail = "media_stopped", f"no {track} for {silent:.0f} s before the end"
                outcomes.append(live.FileOutcome(track, account, reason, detail, starts))
        return outcomes

    async def _finish(self, reason: str) -> None:
        logger.info("%r: ending (%s)", self, reason)
        ended_at = timezone.now()
        for account in list(self.peers):
            try:
                await self._drop_peer(account)
            except Exception:
                logger.exception("%r: closing the peer of %s", self, account)
        if self.pipeline is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(self.pipeline.stop), FINISH_TIMEOUT)
            except Exception:
                logger.exception("%r: stopping the pipeline", self)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self.record:
            try:
                await database_sync_to_async(live.live_files_account)(
                    session_id=self.session_id, outcomes=self._outcomes(time.monotonic())
                )
            except Exception:
                logger.exception("%r: accounting for the expected files", self)
        if self.events_channel is not None:
            await self.layer.group_discard(self.group, self.events_channel)
        departure = await database_sync_to_async(live.live_end)(
            session_id=self.session_id, reason=reason, ended_at=ended_at
        )
        if departure is not None:
            frame = protocol.member_left(
                account=departure.member.account, session=departure.member.session, reason="left"
            )
            await self.layer.group_send(self.group, protocol.room_event(frame))
        await self._tell_host(
            protocol.live_state(session=self.session_id, state="ended", recording=self.record, reason=reason)
        )
        await database_sync_to_async(live_jobs.live_finish_enqueue)(session_id=self.session_id, partial=False)
