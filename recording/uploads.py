"""Upload services: tus uploads from creation to a finished file, in constant memory.

Bytes go to a staging file (one per upload, named by the server) with an fsync before each PATCH is
acknowledged, so an acknowledged byte survives a crash. Only the holder of an upload's lock (a
compare-and-swap on the row) writes, so concurrent PATCH requests to one upload cannot interleave.
A finished upload is copied into Django storage and handed to `recording/library.py`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from recording import library
from recording.models import Upload
from recording.names import is_valid_name
from recording.storage import staging_path
from recording.tus import Checksum, TusError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
LOCK_RENEW_BYTES = 16 * 1024 * 1024
# Metadata keys the server understands; any other key is kept as metadata and otherwise ignored.
KIND_ALIASES = {"participant": "participant", "mp4": "participant", "mix": "mix", "aac": "mix"}
MAX_FILENAME_LENGTH = 255


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class AppendResult:
    upload: Upload
    written: int


def _now() -> datetime:
    return timezone.now()


def _expiry(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.NETCALL_UPLOAD_EXPIRY_SECONDS)


def validate_filename(name: str) -> None:
    """A client's file name is metadata only; a name that tries to be a path is refused, never cleaned."""
    if "\x00" in name:
        raise TusError(400, "bad_filename", "the file name contains a NUL byte")
    if "/" in name or "\\" in name:
        raise TusError(400, "bad_filename", "the file name contains a path separator")
    if name in (".", "..") or ".." in name.split("."):
        raise TusError(400, "bad_filename", "the file name contains '..'")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise TusError(400, "bad_filename", "the file name contains control characters")
    if not name.strip() or len(name) > MAX_FILENAME_LENGTH:
        raise TusError(400, "bad_filename", f"the file name must be 1-{MAX_FILENAME_LENGTH} characters")


def _validate_metadata(metadata: dict[str, str | None]) -> None:
    for key in ("filename", "name"):
        value = metadata.get(key)
        if value is not None:
            validate_filename(value)
    kind = metadata.get("kind")
    if kind is not None and kind not in KIND_ALIASES:
        raise TusError(400, "bad_metadata", f"metadata 'kind' must be one of {', '.join(sorted(KIND_ALIASES))}")
    target = metadata.get("target")
    if target is not None and not is_valid_name(target):
        raise TusError(400, "bad_metadata", "metadata 'target' must be an account name (1-64 characters)")
    for key in ("filetype", "type"):
        value = metadata.get(key)
        if value is not None and (len(value) > 200 or any(ord(c) < 0x20 for c in value)):
            raise TusError(400, "bad_metadata", f"metadata '{key}' must be a media type")


def _check_size(length: int) -> None:
    limit = settings.NETCALL_UPLOAD_MAX_SIZE
    if length > limit:
        raise TusError(413, "too_large", f"uploads may be at most {limit} bytes")


def upload_create(
    *, account: str, channel: str, length: int | None, metadata: dict[str, str | None], now: datetime | None = None
) -> Upload:
    """A new upload with an empty staging file, and its Recording (status `recording` or `uploading`)."""
    _validate_metadata(metadata)
    if length is not None:
        _check_size(length)
    now = now or _now()
    upload = Upload(
        id=uuid.uuid4(),
        account=account,
        channel=channel,
        length=length,
        metadata=metadata,
        created_at=now,
        updated_at=now,
        expires_at=_expiry(now),
    )
    path = staging_path(upload.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb"):  # exclusive: a UUID collision or a stale file is an error, not an overwrite
        pass
    try:
        with transaction.atomic():
            upload.save(force_insert=True)
            library.recording_for_upload_created(upload=upload)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    logger.info("Upload(%s) created by %s in %s, length %s", upload.id, account, channel, length)
    if length == 0:
        upload_complete(upload_id=upload.id)
        upload.refresh_from_db()
    return upload


def upload_get(upload_id: uuid.UUID | str) -> Upload:
    """The upload, or TusError 404 (never existed or terminated) / 410 (expired)."""
    try:
        upload = Upload.objects.get(pk=uuid.UUID(str(upload_id)))
    except (Upload.DoesNotExist, ValueError):
        raise TusError(404, "not_found", "no such upload") from None
    if upload.state == Upload.STATE_EXPIRED:
        raise TusError(410, "gone", "this upload has expired")
    return upload


def _acquire(upload_id: uuid.UUID, offset: int, now: datetime) -> str:
    token = secrets.token_hex(8)
    claimed = (
        Upload.objects.filter(pk=upload_id, state=Upload.STATE_OPEN, offset=offset)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + timedelta(seconds=settings.NETCALL_UPLOAD_LOCK_SECONDS), lock_token=token)
    )
    if claimed:
        return token
    upload = upload_get(upload_id)
    if upload.offset != offset:
        raise TusError(409, "offset_mismatch", f"the upload is at offset {upload.offset}, not {offset}")
    if upload.state == Upload.STATE_COMPLETE:
        raise TusError(409, "complete", "the upload is already complete")
    raise TusError(423, "locked", "another request is writing to this upload; retry after it ends")


def _renew(upload_id: uuid.UUID, token: str) -> None:
    until = _now() + timedelta(seconds=settings.NETCALL_UPLOAD_LOCK_SECONDS)
    Upload.objects.filter(pk=upload_id, lock_token=token).update(locked_until=until)


def _release(upload_id: uuid.UUID, token: str) -> None:
    Upload.objects.filter(pk=upload_id, lock_token=token).update(locked_until=None, lock_token="")


def upload_append(
    *,
    upload_id: uuid.UUID,
    offset: int,
    stream: Readable,
    content_length: int | None,
    checksum: Checksum | None = None,
    declared_length: int | None = None,
    partial: bool = False,
) -> AppendResult:
    """Append a PATCH body at `offset`. 409 stale offset, 413 too large, 423 locked, 460 bad checksum.

    A body cut short (the client went away) keeps the bytes that arrived, unless a checksum was sent:
    then nothing of it is kept, since it cannot be verified.
    """
    upload = upload_get(upload_id)
    if upload.state == Upload.STATE_COMPLETE and offset == upload.offset and not content_length:
        return AppendResult(upload=upload, written=0)  # a repeated final PATCH: already done
    length = upload.length
    if declared_length is not None:
        if length is not None and declared_length != length:
            raise TusError(400, "length_mismatch", f"the upload's length is already {length}")
        if declared_length < upload.offset:
            raise TusError(400, "length_mismatch", f"'Upload-Length' is below the offset {upload.offset}")
        _check_size(declared_length)
        length = declared_length
    limit = settings.NETCALL_UPLOAD_MAX_SIZE if length is None else length
    if content_length is not None and offset + content_length > limit:
        if length is None:
            raise TusError(413, "too_large", f"uploads may be at most {limit} bytes")
        raise TusError(413, "too_large", f"the body would go past the upload's length {length}")
    now = _now()
    token = _acquire(upload_id, offset, now)
    try:
        written = _write_body(upload_id, token, offset, stream, content_length, checksum, limit, length)
        fields: dict[str, object] = {
            "offset": offset + written,
            "updated_at": _now(),
            "expires_at": _expiry(_now()),
        }
        if declared_length is not None and upload.length is None:
            fields["length"] = declared_length
        if partial:
            metadata = dict(upload.metadata)
            metadata["netcall-partial"] = "1"
            fields["metadata"] = metadata
        Upload.objects.filter(pk=upload_id, lock_token=token).update(**fields)
    finally:
        _release(upload_id, token)
    upload.refresh_from_db()
    if upload.length is not None and declared_length is not None and upload.offset < upload.length:
        library.recording_length_known(upload=upload)
    if upload.is_complete:
        upload_complete(upload_id=upload.id)
        upload.refresh_from_db()
    return AppendResult(upload=upload, written=written)


def _write_body(
    upload_id: uuid.UUID,
    token: str,
    offset: int,
    stream: Readable,
    content_length: int | None,
    checksum: Checksum | None,
    limit: int,
    length: int | None,
) -> int:
    path = staging_path(upload_id)
    hasher = checksum.new_hash() if checksum else None
    written = 0
    since_renew = 0
    try:
        handle: IO[bytes] = path.open("r+b")
    except FileNotFoundError:
        raise TusError(410, "gone", "this upload's data is gone") from None
    with handle:
        handle.seek(offset)
        handle.truncate()  # bytes past the offset were never acknowledged (a writer died mid-body)
        try:
            while content_length is None or written < content_length:
                want = CHUNK_BYTES if content_length is None else min(CHUNK_BYTES, content_length - written)
                data = stream.read(want)
                if not data:
                    break
                if offset + written + len(data) > limit:
                    what = "the upload's length" if length is not None else "the size limit"
                    raise TusError(413, "too_large", f"the body goes past {what} ({limit} bytes)")
                handle.write(data)
                if hasher is not None:
                    hasher.update(data)
                written += len(data)
                since_renew += len(data)
                if since_renew >= LOCK_RENEW_BYTES:
                    _renew(upload_id, token)
                    since_renew = 0
            cut_short = content_length is not None and written < content_length
            if checksum is not None and hasher is not None:
                if cut_short:
                    raise TusError(400, "incomplete_body", "the body ended before Content-Length")
                if not checksum.matches(hasher.digest()):
                    raise TusError(460, "checksum_mismatch", f"the chunk's {checksum.algorithm} does not match")
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            # Refused (413, 460) or broken: none of this body counts. A body that merely ended early
            # (the stream returned EOF) is not an error and keeps its bytes, see above.
            handle.seek(offset)
            handle.truncate()
            handle.flush()
            raise
    return written


def upload_complete(*, upload_id: uuid.UUID) -> None:
    """All bytes are here: copy them into storage (constant memory) and hand them to the library."""
    with transaction.atomic():
        claimed = Upload.objects.filter(pk=upload_id, state=Upload.STATE_OPEN, offset=F("length")).update(
            state=Upload.STATE_COMPLETE, completed_at=_now()
        )
    if not claimed:
        return
    upload = Upload.objects.get(pk=upload_id)
    path = staging_path(upload.id)
    sha256 = file_sha256(path)
    library.recording_upload_finished(upload=upload, staging=path, sha256=sha256, partial=False)
    path.unlink(missing_ok=True)
    logger.info("Upload(%s) complete: %d bytes, sha256 %s", upload.id, upload.offset, sha256)


def upload_terminate(upload: Upload) -> None:
    """tus termination: the staging bytes and the upload go; a recording already made from it stays."""
    staging_path(upload.id).unlink(missing_ok=True)
    Upload.objects.filter(pk=upload.pk).delete()
    library.recording_upload_terminated(upload=upload)
    logger.info("Upload(%s) terminated by %s", upload.id, upload.account)


def file_sha256(path: Path, *, limit: int | None = None) -> str:
    digest = hashlib.sha256()
    remaining = limit
    with path.open("rb") as handle:
        while remaining is None or remaining > 0:
            data = handle.read(CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining))
            if not data:
                break
            digest.update(data)
            if remaining is not None:
                remaining -= len(data)
    return digest.hexdigest()


def uploads_sweep(*, now: datetime | None = None, snapshot: Callable[[Upload], None] | None = None) -> dict[str, int]:
    """Periodic upkeep: finish uploads whose last byte arrived before a crash, keep idle ones as partial
    recordings (the upload stays resumable), and expire abandoned ones. Returns counts per action."""
    now = now or _now()
    counts = {"completed": 0, "partial": 0, "expired": 0}
    for upload_id in Upload.objects.filter(state=Upload.STATE_OPEN, offset=F("length")).values_list("id", flat=True):
        upload_complete(upload_id=upload_id)
        counts["completed"] += 1
    idle_before = now - timedelta(seconds=settings.NETCALL_UPLOAD_IDLE_SECONDS)
    idle = Upload.objects.filter(
        state=Upload.STATE_OPEN, updated_at__lt=idle_before, offset__gt=F("snapshot_offset")
    ).filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
    for upload in idle:
        (snapshot or upload_snapshot_partial)(upload)
        counts["partial"] += 1
    for upload in Upload.objects.filter(state=Upload.STATE_OPEN, expires_at__lt=now):
        staging_path(upload.id).unlink(missing_ok=True)
        Upload.objects.filter(pk=upload.pk, state=Upload.STATE_OPEN).update(state=Upload.STATE_EXPIRED, updated_at=now)
        logger.info("Upload(%s) expired at offset %d", upload.id, upload.offset)
        counts["expired"] += 1
    # Finished and expired uploads are kept as tombstones (410) for a while, then forgotten.
    Upload.objects.filter(~Q(state=Upload.STATE_OPEN), updated_at__lt=now - timedelta(days=30)).delete()
    return counts


def upload_snapshot_partial(upload: Upload) -> None:
    """An upload that stopped growing: keep what arrived as a partial recording, now.

    The upload itself stays open: if its client comes back, it resumes and the recording becomes whole.
    """
    offset = upload.offset
    path = staging_path(upload.id)
    if not path.exists():
        return
    sha256 = file_sha256(path, limit=offset)
    library.recording_upload_finished(upload=upload, staging=path, sha256=sha256, partial=True, limit=offset)
    Upload.objects.filter(pk=upload.pk).update(snapshot_offset=offset)
    logger.info("Upload(%s) idle: kept %d bytes as a partial recording", upload.id, offset)
