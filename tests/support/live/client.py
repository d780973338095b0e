"""A live participant for consumer-level tests: the netcall protocol over WebsocketCommunicator plus an
aiortc peer connection to the server recorder `#recorder`, publishing synthetic tracks."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from channels.testing import WebsocketCommunicator

from netcall_site.asgi import application
from recording.live.services import RECORDER_ACCOUNT
from recording.tokens import token_mint
from tests.support.live.media import ColourTrack, ToneTrack

_ids = itertools.count(1)
# A browser on the page this server serves: the origin check compares scheme, host and port.
HOST, ORIGIN = b"127.0.0.1:8000", b"http://127.0.0.1:8000"
Frame = dict[str, Any]


class LiveClient:
    """Keeps every frame it has not handed out yet, so that no event is lost while awaiting an ack."""

    def __init__(self, account: str, ws: WebsocketCommunicator) -> None:
        self.account = account
        self.ws = ws
        self.backlog: list[Frame] = []
        self.pc: RTCPeerConnection | None = None
        self.recorder_session: str | None = None

    @classmethod
    async def connect(cls, account: str) -> LiveClient:
        ws = WebsocketCommunicator(application, "/ws/netcall/", headers=[(b"origin", ORIGIN), (b"host", HOST)])
        connected, _ = await ws.connect()
        assert connected
        return cls(account, ws)

    async def _next(self, timeout: float) -> Frame:
        return json.loads(await self.ws.receive_from(timeout=timeout))

    async def wait_for(self, match: Callable[[Frame], bool], timeout: float = 10) -> Frame:
        for index, frame in enumerate(self.backlog):
            if match(frame):
                return self.backlog.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.account}: no matching frame; backlog: {self.backlog[-10:]}")
            frame = await self._next(remaining)
            if match(frame):
                return frame
            self.backlog.append(frame)

    async def request(self, type_: str, **fields: Any) -> Frame:
        request_id = next(_ids)
        await self.ws.send_to(text_data=json.dumps({"type": type_, "id": request_id, **fields}))
        return await self.wait_for(lambda f: f.get("id") == request_id)

    async def join(self, channel: str, live: dict[str, Any] | None = None, **token_args: Any) -> Frame:
        """Join with a token granting what this join asks for (`live` to host, `record` for rtmpRecord),
        unless `grants` says otherwise."""
        if "grants" not in token_args:
            grants = ["publish"]
            if live is not None and live.get("rtmpUrl"):
                grants.append("live")
            if live is not None and live.get("rtmpRecord"):
                grants.append("record")
            token_args["grants"] = grants
        token = token_mint(account=self.account, channel=channel, **token_args)
        body: dict[str, Any] = {"token": token, "channel": channel, "media": {"audio": True, "video": True}}
        if live is not None:
            body["live"] = live
        return await self.request("join", **body)

    async def publish_to_recorder(
        self,
        *,
        rgb: tuple[int, int, int] = (0, 0, 0),
        hz: float = 0,
        timeout: float = 20,
        video_codec: str | None = None,
        tracks: tuple[MediaStreamTrack, MediaStreamTrack] | None = None,
    ) -> None:
        """Offer our colour and tone to #recorder (`video_codec`, e.g. "video/H264", the only one offered)
        and wait until the connection is up."""
        pc = RTCPeerConnection()
        self.pc = pc
        video_track, audio_track = tracks if tracks is not None else (ColourTrack(rgb), ToneTrack(hz))
        video = pc.addTrack(video_track)
        pc.addTrack(audio_track)
        if video_codec is not None:
            capabilities = RTCRtpSender.getCapabilities("video")
            assert capabilities is not None
            wanted = [c for c in capabilities.codecs if c.mimeType.lower() in (video_codec.lower(), "video/rtx")]
            transceiver = next(t for t in pc.getTransceivers() if t.sender is video)
            transceiver.setCodecPreferences(wanted)
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"description": {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}}
        reply = await self.request("signal", to=RECORDER_ACCOUNT, data=offer)
        assert reply["type"] == "ack", reply
        answer = await self.wait_for(
            lambda f: f["type"] == "signal" and f["from"] == RECORDER_ACCOUNT and "description" in f["data"], timeout
        )
        self.recorder_session = answer["fromSession"]
        description = answer["data"]["description"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=description["sdp"], type=description["type"]))
        deadline = time.monotonic() + timeout
        while pc.connectionState != "connected":
            assert pc.connectionState not in ("failed", "closed"), pc.connectionState
            assert time.monotonic() < deadline, f"{self.account}: peer connection stuck in {pc.connectionState}"
            await asyncio.sleep(0.05)  # polling a state, not waiting a fixed time

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        await self.ws.disconnect()
