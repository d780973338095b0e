"""Hand a new live session to a recorder worker, starting the in-process worker on first need.

Workers listen on the named channel `netcall-recorder` (`manage.py runworker netcall-recorder`, any
number of them, with the Redis channel layer); by default (NETCALL_RECORDER_IN_PROCESS) the serving
process runs one itself as an asyncio task, which is what the in-memory channel layer needs.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from django.conf import settings

from recording.live.services import RECORDER_CHANNEL

logger = logging.getLogger(__name__)

_in_process: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[Any]] = weakref.WeakKeyDictionary()


def ensure_in_process_worker(layer: Any) -> None:
    """Run the recorder worker in this event loop unless it already runs here."""
    from channels.routing import ChannelNameRouter
    from channels.worker import Worker

    from recording.live.worker import RecorderConsumer

    loop = asyncio.get_running_loop()
    task = _in_process.get(loop)
    if task is not None and not task.done():
        return
    application = ChannelNameRouter({RECORDER_CHANNEL: RecorderConsumer.as_asgi()})
    worker = Worker(application=application, channels=[RECORDER_CHANNEL], channel_layer=layer)
    _in_process[loop] = loop.create_task(worker.arun(), name="netcall-recorder-worker")
    logger.info("Recorder worker started in this process")


async def recorder_start(layer: Any, *, session_id: str) -> None:
    if settings.NETCALL_RECORDER_IN_PROCESS:
        ensure_in_process_worker(layer)
    await layer.send(RECORDER_CHANNEL, {"type": "live.start", "session": session_id})
