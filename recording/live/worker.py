"""The recorder worker: a Channels consumer on the named channel `netcall-recorder`.

Each `live.start` message starts one LiveRecorder task (recording/media/live_recorder.py) for that
session; the task then receives the session's own channel (the `#recorder` member's channel_name). The
media modules are imported on first use, so that serving signalling never loads aiortc.

A worker records at most NETCALL_LIVE_MAX_SESSIONS_PER_PROCESS sessions at once: past that it claims a
new session only to end it with the reason `live_quota` (the host is told with `live.state`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from channels.consumer import AsyncConsumer
from django.conf import settings

if TYPE_CHECKING:
    from recording.media.live_recorder import LiveRecorder

logger = logging.getLogger(__name__)

_running: set[asyncio.Task[None]] = set()
_recording: set[str] = set()  # the sessions this process records: claimed, and admitted under the limit


async def _record(recorder: LiveRecorder) -> None:
    def admit() -> str | None:
        limit = settings.NETCALL_LIVE_MAX_SESSIONS_PER_PROCESS
        if len(_recording) >= limit:
            logger.warning("Recorder worker: %d sessions running, refusing %r", len(_recording), recorder)
            return "live_quota"
        _recording.add(recorder.session_id)
        return None

    try:
        await recorder.run(admit=admit)
    finally:
        _recording.discard(recorder.session_id)


class RecorderConsumer(AsyncConsumer):
    async def live_start(self, message: dict[str, Any]) -> None:
        from recording.media.live_recorder import LiveRecorder

        session_id = str(message["session"])
        recorder = LiveRecorder(session_id, self.channel_layer)
        task = asyncio.get_running_loop().create_task(_record(recorder), name=f"live-{session_id[:8]}")
        _running.add(task)
        task.add_done_callback(_running.discard)
