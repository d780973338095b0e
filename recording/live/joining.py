"""Live broadcasting's part in every join (registered with recording.signalling.joining when the app is
ready): the `live` field of a join ({liveEnable, rtmpUrl, rtmpRecord}), host and co-host roles, the live
session a host starts and its recorder member, and the `live` part of the ack."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from recording.live import dispatch
from recording.live.services import (
    LiveJoin,
    LiveRequest,
    live_ack,
    live_join,
    live_record_pause_target,
    live_request_parse,
    rtmp_target_check,
)
from recording.models import Member
from recording.signalling import protocol
from recording.signalling.joining import Broadcast
from recording.signalling.rooms import JoinRequest, JoinResult
from recording.tokens import JoinToken


class LiveJoinExtension:
    field = "live"

    def parse(self, value: object, token: JoinToken) -> LiveRequest | None:
        return live_request_parse(value, may_host=token.allows("live"), may_record=token.allows("record"))

    def join(self, request: JoinRequest, parsed: object) -> JoinResult:
        assert parsed is None or isinstance(parsed, LiveRequest)
        if parsed is not None and parsed.rtmp_url:
            rtmp_target_check(parsed.rtmp_url)  # resolves the name: here in the database thread, not the loop
        return live_join(join=request, request=parsed)

    async def joined(self, result: JoinResult, *, layer: Any, broadcast: Broadcast) -> dict[str, Any]:
        live = result.extra
        assert isinstance(live, LiveJoin)
        if live.recorder is not None:
            await broadcast(protocol.member_joined(live.recorder.as_wire()), member=live.recorder)
        if live.started and live.session is not None:
            await dispatch.recorder_start(layer, session_id=str(live.session.id))
        data = live_ack(result.member, live)
        return {} if data is None else {"live": data}

    async def record_pause(self, member: Member, *, pause: bool, layer: Any) -> dict[str, Any]:
        """The host's pauseLiveRecord() / resumeLiveRecord(): handed to the session's recorder worker,
        which pauses its files and tells the room (`record.state` of `#recorder`, kind `live`)."""
        worker = await database_sync_to_async(live_record_pause_target)(room_id=member.room_id, account=member.account)
        await layer.send(worker, {"type": "live.pause" if pause else "live.resume"})
        return {"paused": pause}
