"""Finishing jobs of library recordings: decode check, seekable remux, optional transcode.

Durable jobs (recording/jobs/queue.py), queued when an upload completes or a transcode is asked for;
the media work itself is recording/media/inspect.py.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from recording.errors import NetcallError
from recording.jobs.queue import job_enqueue, job_handler
from recording.library import storage
from recording.library.previews import PREVIEW_FIELDS, recording_previews_enqueue
from recording.library.services import recording_file_names, recording_files_delete
from recording.media import inspect as finishing
from recording.models import Recording, TranscodeRequest

logger = logging.getLogger(__name__)

FINISH_JOB = "recording.finish"
TRANSCODE_JOB = "recording.transcode"


def recording_finish_enqueue(*, recording_id: str, sha256: str, partial: bool) -> None:
    job_enqueue(FINISH_JOB, {"recording": recording_id, "sha256": sha256, "partial": partial})


def _fail(recording: Recording, reason: str) -> None:
    """Rejected: the file goes, the row stays with the reason."""
    logger.warning("Recording(%s) rejected: %s", recording.pk, reason)
    names = recording_file_names(recording)
    Recording.objects.filter(pk=recording.pk).update(
        status=Recording.Status.FAILED,
        failure_reason=reason[:2000],
        file="",
        seekable_file="",
        transcoded_file="",
        **dict.fromkeys(PREVIEW_FIELDS, ""),
        finished_at=timezone.now(),
    )
    recording_files_delete(names)


@job_handler(FINISH_JOB, timeout=60 * 60)
def recording_finish(payload: dict[str, Any]) -> None:
    """Decode-check the file, write the seekable rendition, mark it ready (or partial)."""
    recording = Recording.objects.filter(pk=payload["recording"]).first()
    if recording is None or recording.sha256 != payload["sha256"] or not recording.file:
        return  # deleted, or replaced by a newer upload of the same recording: that one has its own job
    with storage.local_copy(recording.file.name) as path:
        try:
            info = finishing.media_inspect(path, claimed_type=recording.mime_type)
        except finishing.MediaError as exc:
            _fail(recording, str(exc))
            return
        seekable_name = ""
        if info.remux_format is not None:
            with tempfile.TemporaryDirectory(prefix="netcall-remux-") as directory:
                target = Path(directory) / f"seekable.{info.container}"
                try:
                    finishing.media_remux(path, target, format_name=info.remux_format)
                    name = storage.recording_file_name(recording.pk, "seekable", info.container)
                    seekable_name = storage.storage_save_local(name, target)
                except (finishing.MediaError, OSError, ValueError) as exc:
                    logger.warning("Recording(%s): no seekable rendition: %s", recording.pk, exc)
    partial = bool(payload.get("partial")) or info.truncated
    updated = Recording.objects.filter(pk=recording.pk, sha256=payload["sha256"]).update(
        status=Recording.Status.PARTIAL if partial else Recording.Status.READY,
        **info.recording_fields(),
        seekable_file=seekable_name,
        finished_at=timezone.now(),
    )
    if not updated:
        storage.storage_delete(seekable_name)
        return
    logger.info(
        "Recording(%s) %s: %s %s/%s, %.1f s",
        recording.pk,
        "partial" if partial else "ready",
        info.container,
        info.video_codec or "-",
        info.audio_codec or "-",
        info.duration or 0.0,
    )
    recording_previews_enqueue(recording_id=str(recording.pk), sha256=payload["sha256"])
    if recording.transcode_requested and not payload.get("partial"):
        job_enqueue(TRANSCODE_JOB, {"recording": str(recording.pk), "sha256": payload["sha256"]})


@job_handler(TRANSCODE_JOB, timeout=4 * 60 * 60)
def recording_transcode(payload: dict[str, Any]) -> None:
    """MP4 (H.264 + AAC) for participant recordings, AAC `.m4a` for mixes; the original stays."""
    recording = Recording.objects.filter(pk=payload["recording"]).first()
    if recording is None or recording.sha256 != payload["sha256"] or not recording.file:
        return
    audio_only = recording.kind == Recording.Kind.MIX or not recording.video_codec
    extension = "m4a" if audio_only else "mp4"
    with storage.local_copy(recording.file.name) as path, tempfile.TemporaryDirectory(prefix="netcall-tx-") as tmp:
        target = Path(tmp) / f"transcoded.{extension}"
        finishing.media_transcode(path, target, audio_only=audio_only)
        name = storage.recording_file_name(recording.pk, "transcoded", extension)
        saved = storage.storage_save_local(name, target)
    if not Recording.objects.filter(pk=recording.pk, sha256=payload["sha256"]).update(transcoded_file=saved):
        storage.storage_delete(saved)
    logger.info("Recording(%s) transcoded to %s", recording.pk, extension)


def transcode_quota_take(*, account: str, now: datetime | None = None) -> None:
    """Count one transcode asked for on behalf of `account`; 429 `transcode_quota` past
    NETCALL_TRANSCODE_PER_HOUR in the last hour (nothing is counted then)."""
    now = now or timezone.now()
    limit = settings.NETCALL_TRANSCODE_PER_HOUR
    recent = TranscodeRequest.objects.filter(account=account, requested_at__gt=now - timedelta(hours=1))
    if recent.count() >= limit:
        raise NetcallError("transcode_quota", f"at most {limit} transcodes an hour per account", status=429)
    TranscodeRequest.objects.create(account=account, requested_at=now)


def recording_request_transcode(recording: Recording, *, account: str | None = None) -> None:
    """Transcode the recording (now if it is playable, else once finished). With `account`, the request
    counts against that account's NETCALL_TRANSCODE_PER_HOUR (staff in the admin ask without one)."""
    now = recording.status in Recording.PLAYABLE_STATUSES and bool(recording.file) and not recording.transcoded_file
    if account is not None and (now or not recording.transcode_requested):
        transcode_quota_take(account=account)
    Recording.objects.filter(pk=recording.pk).update(transcode_requested=True)
    if now:
        job_enqueue(TRANSCODE_JOB, {"recording": str(recording.pk), "sha256": recording.sha256})
