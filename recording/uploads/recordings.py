"""The Recording row behind each upload: created with the upload, filled and queued for finishing when
its bytes are complete (or kept as partial when the upload went idle)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

from recording.library import storage
from recording.library.finishing import recording_finish_enqueue
from recording.library.previews import PREVIEW_FIELDS
from recording.library.services import recording_file_names, recording_files_delete
from recording.models import Recording, Upload

# Metadata `kind` values and what they mean (the SDK's API names and the library's kinds).
KIND_FROM_METADATA = {
    "participant": Recording.Kind.PARTICIPANT,
    "mp4": Recording.Kind.PARTICIPANT,
    "mix": Recording.Kind.MIX,
    "aac": Recording.Kind.MIX,
}
TRUE_VALUES = ("1", "true", "yes")


def transcode_asked(metadata: dict[str, str | None]) -> bool:
    """Whether an upload's metadata asks for a transcode (`transcode: 1`)."""
    return (metadata.get("transcode") or "").lower() in TRUE_VALUES


def recording_for_upload_created(*, upload: Upload) -> Recording:
    metadata = upload.metadata
    kind = KIND_FROM_METADATA.get(metadata.get("kind") or "participant", Recording.Kind.PARTICIPANT)
    target = metadata.get("target") or ("" if kind == Recording.Kind.MIX else upload.account)
    recording = Recording.objects.create(
        channel=upload.channel,
        account=target,
        recorder=upload.account,
        kind=kind,
        status=Recording.Status.RECORDING if upload.length is None else Recording.Status.UPLOADING,
        mime_type=(metadata.get("filetype") or metadata.get("type") or "")[:100],
        client_filename=(metadata.get("filename") or metadata.get("name") or "")[:255],
        transcode_requested=transcode_asked(metadata) or settings.NETCALL_TRANSCODE,
        created_at=upload.created_at,
        # An upload of unknown length streams while recording: it began when the recording did.
        started_at=upload.created_at if upload.length is None else None,
    )
    type(upload).objects.filter(pk=upload.pk).update(recording=recording)
    upload.recording = recording
    return recording


def recording_of_upload(upload: Upload) -> Recording | None:
    """The upload's recording: the one read with it (`upload_get` joins it in), else read now."""
    if upload.recording_id is None:
        return None
    try:
        return upload.recording
    except Recording.DoesNotExist:
        return None


def recording_length_known(*, upload: Upload) -> None:
    """A recording's length became known: it is no longer being recorded, only uploaded."""
    changed = Recording.objects.filter(upload=upload, status=Recording.Status.RECORDING).update(
        status=Recording.Status.UPLOADING
    )
    recording = recording_of_upload(upload)
    if changed and recording is not None:
        recording.status = Recording.Status.UPLOADING


def recording_upload_finished(
    *, upload: Upload, staging: Path, sha256: str, partial: bool, limit: int | None = None, move: bool = False
) -> Recording | None:
    """Keep the uploaded bytes (all, or the first `limit` of an idle upload) as the recording's file and
    queue its finishing. A later, longer version of the same upload replaces an earlier partial one.
    With `move`, the staging file itself becomes the stored file where the storage allows (no copy)."""
    recording = recording_of_upload(upload)
    if recording is None:
        recording = recording_for_upload_created(upload=upload)
    partial = partial or upload.metadata.get("netcall-partial") == "1"
    name = storage.recording_file_name(recording.id, "original", storage.extension_for(recording.mime_type))
    size = staging.stat().st_size if limit is None else min(limit, staging.stat().st_size)
    if move and limit is None:
        saved = storage.storage_move_local(name, staging)
    else:
        saved = storage.storage_save_local(name, staging, limit=limit)
    with transaction.atomic():
        current = Recording.objects.select_for_update().get(pk=recording.pk)
        old = recording_file_names(current)
        current.file.name = saved
        current.seekable_file.name = ""
        current.transcoded_file.name = ""
        for field in PREVIEW_FIELDS:
            getattr(current, field).name = ""
        current.size = size
        current.sha256 = sha256
        current.status = Recording.Status.FINISHING
        current.failure_reason = ""
        current.save()
        recording_finish_enqueue(recording_id=str(current.pk), sha256=sha256, partial=partial)
    recording_files_delete(old)
    return current


def recording_upload_terminated(*, upload: Upload) -> None:
    """A terminated upload's recording goes too if nothing of it was ever kept."""
    if upload.recording_id is not None:
        Recording.objects.filter(pk=str(upload.recording_id), file="").delete()
