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
from typing import Any

from channels.consumer import AsyncConsumer
from django.conf import settings

logger = logging.getLogger(__name__)

_running: set[asyncio.Task[None]] = set()
_refusing: set[asyncio.Task[None]] = set()


class RecorderConsumer(AsyncConsumer):
    async def live_start(self, message: dict[str, Any]) -> None:
        from recording.media.live_recorder import LiveRecorder

        session_id = str(message["session"])
        recorder = LiveRecorder(session_id, self.channel_layer)
        loop = asyncio.get_running_loop()
        limit = settings.NETCALL_LIVE_MAX_SESSIONS_PER_PROCESS
        if len(_running) >= limit:
            logger.warning("Recorder worker: %d sessions running, refusing LiveSession(%s)", len(_running), session_id)
            refusal = loop.create_task(recorder.refuse("live_quota"), name=f"live-refuse-{session_id[:8]}")
            _refusing.add(refusal)
            refusal.add_done_callback(_refusing.discard)
            return
        task = loop.create_task(recorder.run(), name=f"live-{session_id[:8]}")
        _running.add(task)
        task.add_done_callback(_running.discard)
