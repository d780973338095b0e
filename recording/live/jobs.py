"""Durable work of live sessions, run by the job runner (recording/jobs.py), so it survives restarts:

- `live.finish` job: turn a session's spool files into library recordings (remux into a seekable MP4,
  check by decoding, sha256, into storage), then queue the callback.
- `live.recover` upkeep: a session whose recorder stopped sending heartbeats (the process was killed)
  is finished the same way, its files kept as `partial` recordings that play up to the crash.
- `live.callbacks` upkeep: post due callbacks (recording/callbacks.py).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from django.utils import timezone

from recording.jobs.queue import job_enqueue, job_handler, periodic
from recording.library import storage
from recording.library.previews import recording_previews_enqueue
from recording.library.storage import file_sha256
from recording.live import callbacks
from recording.live import services as live
from recording.media import inspect as finishing
from recording.models import Recording
from recording.models.live import LiveFile, LiveSession

logger = logging.getLogger(__name__)

FINISH_JOB = "live.finish"
TRANSCODE_JOB = "recording.transcode"  # recording/library/finishing.py's job (a sibling module: not imported)
REMUX_FORMATS = {"mp4": "mp4", "m4a": "mp4", "webm": "webm", "mkv": "matroska"}


def live_finish_enqueue(*, session_id: str, partial: bool) -> None:
    job_enqueue(FINISH_JOB, {"session": session_id, "partial": partial}, max_attempts=5)


def _fail(recording: Recording, reason: str) -> None:
    logger.warning("Recording(%s) of a live session failed: %s", recording.pk, reason)
    Recording.objects.filter(pk=recording.pk).update(
        status=Recording.Status.FAILED, failure_reason=reason[:2000], finished_at=timezone.now()
    )


def live_file_finish(live_file: LiveFile, *, partial: bool) -> None:
    """One spool file into the library; safe to run again (a finished recording is left alone)."""
    recording = live_file.recording
    if recording is None:
        return  # an expected file that was never written: the row only carries its reason
    if recording.status in (Recording.Status.READY, Recording.Status.PARTIAL, Recording.Status.FAILED):
        return
    spool = storage.live_spool_path(live_file.spool_name)
    if not spool.exists() or spool.stat().st_size == 0:
        _fail(recording, "nothing was recorded")
        return
    extension = spool.suffix.lstrip(".") or "mp4"
    with tempfile.TemporaryDirectory(prefix="netcall-live-") as directory:
        target = Path(directory) / f"final.{extension}"
        try:
            finishing.media_remux(spool, target, format_name=REMUX_FORMATS.get(extension, "mp4"))
            info = finishing.media_inspect(target, claimed_type=recording.mime_type)
        except (finishing.MediaError, OSError) as exc:
            _fail(recording, str(exc))
            LiveFile.objects.filter(pk=live_file.pk, reason="").update(reason="finish_failed", detail=str(exc)[:200])
            return
        digest, size = file_sha256(target), target.stat().st_size
        saved = storage.storage_save_local(storage.recording_file_name(recording.pk, "original", extension), target)
    status = Recording.Status.PARTIAL if partial or info.truncated else Recording.Status.READY
    Recording.objects.filter(pk=recording.pk).update(
        status=status,
        file=saved,
        **info.recording_fields(),
        size=size,
        sha256=digest,
        finished_at=timezone.now(),
    )
    storage.live_spool_remove(live_file.spool_name)
    if recording.transcode_requested and status == Recording.Status.READY:
        # H.264/AAC renditions are made here, by the durable transcode job, never in the live path
        job_enqueue(TRANSCODE_JOB, {"recording": str(recording.pk), "sha256": digest})
    recording_previews_enqueue(recording_id=str(recording.pk), sha256=digest)
    logger.info(
        "Recording(%s) %s: %s of %s, %.1f s",
        recording.pk,
        status,
        live_file.track,
        live_file.account or "mix",
        info.duration or 0.0,
    )


@job_handler(FINISH_JOB, timeout=60 * 60)
def live_finish(payload: dict[str, Any]) -> None:
    session = LiveSession.objects.filter(pk=payload["session"]).first()
    if session is None:
        return
    partial = bool(payload.get("partial"))
    for live_file in session.files.select_related("recording").exclude(recording=None):
        live_file_finish(live_file, partial=partial)
    LiveSession.objects.filter(pk=session.pk, status=LiveSession.Status.FINISHING).update(
        status=LiveSession.Status.ENDED
    )
    session.refresh_from_db()
    if session.record and session.files.exists():
        callbacks.callback_enqueue_live(session)


@periodic("live.recover", 5.0)
def live_recover() -> None:
    for session in live.live_stale_sessions():
        if live.live_take_over_stale(session=session):
            live_finish_enqueue(session_id=str(session.pk), partial=True)


@periodic("live.callbacks", 1.0)
def live_callbacks() -> None:
    callbacks.callbacks_deliver_due()
