"""The recorder worker: a Channels consumer on the named channel `netcall-recorder`.

Each `live.start` message starts one LiveRecorder task (recording/media/live_recorder.py) for that
session; the task then receives the session's own channel (the `#recorder` member's channel_name). The
media modules are imported on first use, so that serving signalling never loads aiortc.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.consumer import AsyncConsumer

logger = logging.getLogger(__name__)

_running: set[asyncio.Task[None]] = set()


class RecorderConsumer(AsyncConsumer):
    async def live_start(self, message: dict[str, Any]) -> None:
        from recording.media.live_recorder import LiveRecorder

        session_id = str(message["session"])
        recorder = LiveRecorder(session_id, self.channel_layer)
        task = asyncio.get_running_loop().create_task(recorder.run(), name=f"live-{session_id[:8]}")
        _running.add(task)
        task.add_done_callback(_running.discard)
