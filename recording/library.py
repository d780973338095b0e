"""The recordings library: Recording rows from uploads, finishing jobs, access, deletion and retention.

Views, the upload services and the commands call these functions; file names come from
recording/storage.py, media work from recording/finishing.py.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from recording import finishing, storage
from recording.jobs import job_enqueue, job_handler, periodic
from recording.models import Recording
from recording.tokens import JoinToken

if TYPE_CHECKING:
    from recording.models import Upload

logger = logging.getLogger(__name__)

FINISH_JOB = "recording.finish"
TRANSCODE_JOB = "recording.transcode"
KIND_FROM_METADATA = {"participant": Recording.KIND_PARTICIPANT, "mp4": Recording.KIND_PARTICIPANT}
KIND_FROM_METADATA |= {"mix": Recording.KIND_MIX, "aac": Recording.KIND_MIX}
TRUE_VALUES = ("1", "true", "yes")


# --- uploads ------------------------------------------------------------------------------------------


def recording_for_upload_created(*, upload: Upload) -> Recording:
    metadata = upload.metadata
    kind = KIND_FROM_METADATA.get(metadata.get("kind") or "participant", Recording.KIND_PARTICIPANT)
    target = metadata.get("target") or ("" if kind == Recording.KIND_MIX else upload.account)
    recording = Recording.objects.create(
        channel=upload.channel,
        account=target,
        recorder=upload.account,
        kind=kind,
        status=Recording.STATUS_RECORDING if upload.length is None else Recording.STATUS_UPLOADING,
        mime_type=(metadata.get("filetype") or metadata.get("type") or "")[:100],
        client_filename=(metadata.get("filename") or metadata.get("name") or "")[:255],
        transcode_requested=(metadata.get("transcode") or "").lower() in TRUE_VALUES or settings.NETCALL_TRANSCODE,
        created_at=upload.created_at,
    )
    type(upload).objects.filter(pk=upload.pk).update(recording=recording)
    upload.recording = recording
    return recording


def recording_of_upload(upload: Upload) -> Recording | None:
    recording_id = upload.recording_id
    if recording_id is None:
        return None
    return Recording.objects.filter(pk=str(recording_id)).first()


def recording_length_known(*, upload: Upload) -> None:
    Recording.objects.filter(upload=upload, status=Recording.STATUS_RECORDING).update(status=Recording.STATUS_UPLOADING)


def recording_upload_finished(
    *, upload: Upload, staging: Path, sha256: str, partial: bool, limit: int | None = None
) -> Recording | None:
    """Keep the uploaded bytes (all, or the first `limit` of an idle upload) as the recording's file and
    queue its finishing. A later, longer version of the same upload replaces an earlier partial one."""
    recording = recording_of_upload(upload)
    if recording is None:
        recording = recording_for_upload_created(upload=upload)
    partial = partial or upload.metadata.get("netcall-partial") == "1"
    name = storage.recording_file_name(recording.id, "original", storage.extension_for(recording.mime_type))
    saved = storage.storage_save_local(name, staging, limit=limit)
    size = staging.stat().st_size if limit is None else min(limit, staging.stat().st_size)
    with transaction.atomic():
        current = Recording.objects.select_for_update().get(pk=recording.pk)
        old = [current.file.name, current.seekable_file.name, current.transcoded_file.name]
        current.file.name = saved
        current.seekable_file.name = ""
        current.transcoded_file.name = ""
        current.size = size
        current.sha256 = sha256
        current.status = Recording.STATUS_FINISHING
        current.failure_reason = ""
        current.save()
        job_enqueue(FINISH_JOB, {"recording": str(current.pk), "sha256": sha256, "partial": partial})
    for name in old:
        storage.storage_delete(name)
    return current


def recording_upload_terminated(*, upload: Upload) -> None:
    """A terminated upload's recording goes too if nothing of it was ever kept."""
    if upload.recording_id is not None:
        Recording.objects.filter(pk=str(upload.recording_id), file="").delete()


def recording_download_url(recording: Recording, *, role: str = "original", inline: bool = False) -> str:
    field_name = storage.ROLES[role]
    if not getattr(recording, field_name).name:
        return ""
    return storage.download_url(recording.pk, role=role, inline=inline)


# --- finishing jobs -----------------------------------------------------------------------------------


def _fail(recording: Recording, reason: str) -> None:
    """Rejected: the file goes, the row stays with the reason."""
    logger.warning("Recording(%s) rejected: %s", recording.pk, reason)
    names = [recording.file.name, recording.seekable_file.name, recording.transcoded_file.name]
    Recording.objects.filter(pk=recording.pk).update(
        status=Recording.STATUS_FAILED,
        failure_reason=reason[:2000],
        file="",
        seekable_file="",
        transcoded_file="",
        finished_at=timezone.now(),
    )
    for name in names:
        storage.storage_delete(name)


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
        status=Recording.STATUS_PARTIAL if partial else Recording.STATUS_READY,
        container=info.container,
        video_codec=info.video_codec,
        audio_codec=info.audio_codec,
        duration=info.duration,
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
    if recording.transcode_requested and not payload.get("partial"):
        job_enqueue(TRANSCODE_JOB, {"recording": str(recording.pk), "sha256": payload["sha256"]})


@job_handler(TRANSCODE_JOB, timeout=4 * 60 * 60)
def recording_transcode(payload: dict[str, Any]) -> None:
    """MP4 (H.264 + AAC) for participant recordings, AAC `.m4a` for mixes; the original stays."""
    recording = Recording.objects.filter(pk=payload["recording"]).first()
    if recording is None or recording.sha256 != payload["sha256"] or not recording.file:
        return
    audio_only = recording.kind == Recording.KIND_MIX or not recording.video_codec
    extension = "m4a" if audio_only else "mp4"
    with storage.local_copy(recording.file.name) as path, tempfile.TemporaryDirectory(prefix="netcall-tx-") as tmp:
        target = Path(tmp) / f"transcoded.{extension}"
        finishing.media_transcode(path, target, audio_only=audio_only)
        name = storage.recording_file_name(recording.pk, "transcoded", extension)
        saved = storage.storage_save_local(name, target)
    if not Recording.objects.filter(pk=recording.pk, sha256=payload["sha256"]).update(transcoded_file=saved):
        storage.storage_delete(saved)
    logger.info("Recording(%s) transcoded to %s", recording.pk, extension)


def recording_request_transcode(recording: Recording) -> None:
    Recording.objects.filter(pk=recording.pk).update(transcode_requested=True)
    if recording.status in Recording.PLAYABLE_STATUSES and recording.file and not recording.transcoded_file:
        job_enqueue(TRANSCODE_JOB, {"recording": str(recording.pk), "sha256": recording.sha256})


@periodic("uploads.sweep", 1.0)
def _sweep_uploads() -> None:
    from recording.uploads import uploads_sweep

    uploads_sweep()


# --- access, deletion, retention ----------------------------------------------------------------------


def recordings_for_channel(channel: str, *, filters: dict[str, str] | None = None) -> QuerySet[Recording]:
    """A channel's recordings, newest first, with optional `account`, `kind` and `status` filters."""
    queryset = Recording.objects.filter(channel=channel)
    for key in ("account", "kind", "status", "recorder"):
        value = (filters or {}).get(key)
        if value:
            queryset = queryset.filter(**{key: value})
    return queryset.order_by("-created_at")


def token_may_see(token: JoinToken, recording: Recording) -> bool:
    """A participant sees the recordings of the channel their (valid) token is for."""
    return token.channel == recording.channel


def recording_delete(recording: Recording, *, by: str) -> None:
    names = [recording.file.name, recording.seekable_file.name, recording.transcoded_file.name]
    recording_id = recording.pk
    Recording.objects.filter(pk=recording_id).delete()
    for name in names:
        storage.storage_delete(name)
    logger.info("Recording(%s) of %s in %s deleted by %s", recording_id, recording.account, recording.channel, by)


def recordings_expired(*, days: int, now: datetime | None = None) -> QuerySet[Recording]:
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return Recording.objects.filter(created_at__lt=cutoff).exclude(
        status__in=(Recording.STATUS_RECORDING, Recording.STATUS_UPLOADING, Recording.STATUS_FINISHING)
    )


def recording_as_api(recording: Recording, *, with_urls: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(recording.pk),
        "channel": recording.channel,
        "account": recording.account or None,
        "recorder": recording.recorder or None,
        "kind": recording.kind,
        "status": recording.status,
        "mimeType": recording.mime_type,
        "container": recording.container,
        "videoCodec": recording.video_codec or None,
        "audioCodec": recording.audio_codec or None,
        "duration": recording.duration,
        "size": recording.size,
        "sha256": recording.sha256 or None,
        "fileName": recording.client_filename or None,
        "failureReason": recording.failure_reason or None,
        "createdAt": recording.created_at.isoformat(),
        "finishedAt": recording.finished_at.isoformat() if recording.finished_at else None,
    }
    if with_urls:
        data["urls"] = {
            role: recording_download_url(recording, role=role)
            for role in storage.ROLES
            if getattr(recording, storage.ROLES[role]).name
        }
        data["urlsExpireIn"] = settings.NETCALL_DOWNLOAD_URL_TTL
    return data


def parse_recording_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
