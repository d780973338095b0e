"""Upload services: tus uploads from creation to a finished file, in constant memory.

Bytes go to a staging file (one per upload, named by the server) as they arrive, with an fsync before each
PATCH is acknowledged, so an acknowledged byte survives a crash; a body cut short keeps what arrived. The
stream handed to `upload_append` is read piece by piece (from a spooled request under Django's test client,
straight from the connection under the server, see recording/uploads/streaming.py), so memory stays flat.
The file's sha256 is computed while it is written (`_RunningDigests`), so completing an upload does not read
the file again. Only the holder of an upload's lock (a
compare-and-swap on the row) writes, so concurrent PATCH requests to one upload cannot interleave.
A finished upload is copied into Django storage and becomes its Recording (recording/uploads/recordings.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from recording.library.finishing import transcode_quota_take
from recording.library.storage import file_sha256, staging_path
from recording.models import RecordAnnouncement, RecordConsent, Recording, Upload
from recording.names import RESERVED_PREFIX, is_valid_name
from recording.signalling.consent import consent_latest, consent_required
from recording.uploads import recordings
from recording.uploads.tus import Checksum, TusError

logger = logging.getLogger(__name__)

READ_BYTES = 4 * 1024 * 1024  # the most one read of a body (and so one write) takes
WRITEBACK_BYTES = 4 * 1024 * 1024  # written bytes handed to the disk while the body still arrives
MAX_FILENAME_LENGTH = 255
RUNNING_DIGESTS = 256  # uploads whose sha256 this process carries along at once


class _RunningDigests:
    """The sha256 of each upload's staging file up to its offset, as this process wrote it.

    A hash state cannot be stored in the database, so it lives here: a PATCH at the offset this process
    last wrote continues it; a PATCH elsewhere (another process wrote before, or this one restarted) goes
    without, and the completion hashes the file instead. Bounded: the oldest entries are forgotten."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[uuid.UUID, tuple[int, hashlib._Hash]] = OrderedDict()

    def take(self, upload_id: uuid.UUID, offset: int) -> hashlib._Hash | None:
        """A copy of the digest at `offset` to continue (None when this process has none there); when the
        offset is 0 a new one."""
        with self._lock:
            entry = self._entries.get(upload_id)
        if entry is not None and entry[0] == offset:
            return entry[1].copy()
        return hashlib.sha256() if offset == 0 else None

    def put(self, upload_id: uuid.UUID, offset: int, digest: hashlib._Hash) -> None:
        with self._lock:
            self._entries[upload_id] = (offset, digest)
            self._entries.move_to_end(upload_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def forget(self, upload_id: uuid.UUID) -> None:
        with self._lock:
            self._entries.pop(upload_id, None)

    def hexdigest(self, upload_id: uuid.UUID, offset: int) -> str | None:
        with self._lock:
            entry = self._entries.get(upload_id)
        return entry[1].hexdigest() if entry is not None and entry[0] == offset else None


_digests = _RunningDigests(RUNNING_DIGESTS)


class _BackgroundHash:
    """Feeds a hash from a thread of its own, so hashing a body overlaps receiving and writing it (hashlib
    releases the GIL). At most `depth` pieces wait; `result()` waits for the last and returns the hash."""

    def __init__(self, digest: hashlib._Hash, depth: int = 2) -> None:
        self._digest = digest
        self._pieces: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="netcall-upload-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (piece := self._pieces.get()) is not None:
            self._digest.update(piece)

    def update(self, data: bytes) -> None:
        self._pieces.put(data)

    def result(self) -> hashlib._Hash:
        self._pieces.put(None)
        self._thread.join()
        return self._digest


def upload_sha256(upload_id: uuid.UUID, length: int) -> str:
    """The sha256 of the first `length` bytes of an upload's staging file: carried along while writing
    when this process wrote them, read from the file otherwise."""
    return _digests.hexdigest(upload_id, length) or file_sha256(staging_path(upload_id), limit=length)


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
        raise TusError("bad_filename", "the file name contains a NUL byte")
    if "/" in name or "\\" in name:
        raise TusError("bad_filename", "the file name contains a path separator")
    if name in (".", "..") or ".." in name.split("."):
        raise TusError("bad_filename", "the file name contains '..'")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise TusError("bad_filename", "the file name contains control characters")
    if not name.strip() or len(name) > MAX_FILENAME_LENGTH:
        raise TusError("bad_filename", f"the file name must be 1-{MAX_FILENAME_LENGTH} characters")


def _validate_metadata(metadata: dict[str, str | None]) -> None:
    for key in ("filename", "name"):
        value = metadata.get(key)
        if value is not None:
            validate_filename(value)
    kind = metadata.get("kind")
    if kind is not None and kind not in recordings.KIND_FROM_METADATA:
        raise TusError(
            "bad_metadata",
            f"metadata 'kind' must be one of {', '.join(sorted(recordings.KIND_FROM_METADATA))}",
        )
    target = metadata.get("target")
    if target is not None and not is_valid_name(target):
        raise TusError("bad_metadata", "metadata 'target' must be an account name (1-64 characters)")
    for key in ("filetype", "type"):
        value = metadata.get(key)
        if value is not None and (len(value) > 200 or any(ord(c) < 0x20 for c in value)):
            raise TusError("bad_metadata", f"metadata '{key}' must be a media type")


def _check_size(length: int) -> None:
    limit = settings.NETCALL_UPLOAD_MAX_SIZE
    if length > limit:
        raise TusError("too_large", f"uploads may be at most {limit} bytes", status=413)


def _check_target(*, account: str, channel: str, target: str | None) -> None:
    """Whose media an upload may say it holds: the uploader's own, or that of a member whose recording the
    uploader announced with `record.start` in this channel (the announcement outlives record.stop)."""
    if target is None or target == account:
        return
    if target.startswith(RESERVED_PREFIX):
        raise TusError("bad_target", "metadata 'target' may not name a server participant", status=403)
    if not RecordAnnouncement.objects.filter(channel=channel, recorder=account, target=target).exists():
        raise TusError(
            "bad_target",
            "metadata 'target' must be the uploader or a member it announced recording (record.start) here",
            status=403,
        )


def _consents_for(*, account: str, channel: str, metadata: dict[str, str | None]) -> list[RecordConsent]:
    """The consents that go with this upload's recording. A member's recording (someone else's media)
    needs that member's latest answer to the uploader to be `accepted` where consent is required (the
    channel asks everyone, or the member was asked): else 403 `consent_missing`. A mix takes the answers
    its recorder's mixes got and that no other upload took yet."""
    kind = recordings.KIND_FROM_METADATA.get(metadata.get("kind") or "participant", Recording.Kind.PARTICIPANT)
    if kind == Recording.Kind.MIX:
        return list(
            RecordConsent.objects.filter(channel=channel, recorder=account, kind="aac", recording__isnull=True).exclude(
                state=RecordConsent.State.PENDING
            )
        )
    target = metadata.get("target") or account
    if not consent_required(channel=channel, recorder=account, target=target):
        return []
    answer = consent_latest(channel=channel, recorder=account, target=target)
    if answer is None or answer.state != RecordConsent.State.ACCEPTED:
        raise TusError(
            "consent_missing", f"{target} has not agreed to be recorded by {account} in this channel", status=403
        )
    return [answer]


def _upload_bytes(upload: Upload) -> int:
    """What an open upload counts against its channel's quota: its declared length, or what arrived."""
    return max(upload.length or 0, upload.offset)


def channel_bytes_used(channel: str, *, excluding: uuid.UUID | None = None) -> int:
    """Bytes a channel holds: its recordings' files, plus what its open uploads declared or received (the
    recording of an open upload, e.g. a partial snapshot, is counted through the upload, once)."""
    kept = (
        Recording.objects.filter(channel=channel)
        .exclude(upload__state=Upload.State.OPEN)
        .aggregate(total=Sum("size"))["total"]
    )
    open_uploads = Upload.objects.filter(channel=channel, state=Upload.State.OPEN)
    if excluding is not None:
        open_uploads = open_uploads.exclude(pk=excluding)
    return int(kept or 0) + sum(_upload_bytes(u) for u in open_uploads.only("length", "offset"))


def _channel_room(channel: str, *, excluding: uuid.UUID | None = None) -> int:
    """Bytes an upload may still bring to this channel (NETCALL_CHANNEL_MAX_BYTES)."""
    return settings.NETCALL_CHANNEL_MAX_BYTES - channel_bytes_used(channel, excluding=excluding)


def _channel_quota_error() -> TusError:
    limit = settings.NETCALL_CHANNEL_MAX_BYTES
    return TusError("channel_quota", f"this channel's recordings may take at most {limit} bytes", status=413)


def _check_quotas(*, account: str, channel: str, length: int | None, metadata: dict[str, str | None]) -> None:
    """At creation: open uploads per account and per channel, bytes per channel, transcodes per hour."""
    open_uploads = Upload.objects.filter(state=Upload.State.OPEN)
    per_account = settings.NETCALL_UPLOAD_MAX_OPEN_PER_ACCOUNT
    if open_uploads.filter(account=account).count() >= per_account:
        raise TusError(
            "too_many_uploads", f"an account may have at most {per_account} uploads open at once", status=429
        )
    per_channel = settings.NETCALL_UPLOAD_MAX_OPEN_PER_CHANNEL
    if open_uploads.filter(channel=channel).count() >= per_channel:
        raise TusError("too_many_uploads", f"a channel may have at most {per_channel} uploads open at once", status=429)
    room = _channel_room(channel)
    if room <= 0 or (length is not None and length > room):
        raise _channel_quota_error()
    if recordings.transcode_asked(metadata):
        transcode_quota_take(account=account)


def upload_create(
    *, account: str, channel: str, length: int | None, metadata: dict[str, str | None], now: datetime | None = None
) -> Upload:
    """A new upload with an empty staging file, and its Recording (status `recording` or `uploading`).

    Refused with 403 `bad_target` for a target the uploader may not name, 403 `consent_missing` for a member's
    recording without that member's consent where it is required, and over a quota: 429
    `too_many_uploads`, 413 `channel_quota`, 429 `transcode_quota`."""
    _validate_metadata(metadata)
    if length is not None:
        _check_size(length)
    consents = _consents_for(account=account, channel=channel, metadata=metadata)  # before: the clearer refusal
    _check_target(account=account, channel=channel, target=metadata.get("target"))
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
            _check_quotas(account=account, channel=channel, length=length, metadata=metadata)
            upload.save(force_insert=True)
            recording = recordings.recording_for_upload_created(upload=upload)
            RecordConsent.objects.filter(pk__in=[c.pk for c in consents]).update(recording=recording)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    logger.info("Upload(%s) created by %s in %s, length %s", upload.id, account, channel, length)
    if length == 0:
        upload_complete(upload_id=upload.id)
        upload = upload_get(upload.id)  # completed, and its recording filled
    return upload


def upload_get(upload_id: uuid.UUID | str) -> Upload:
    """The upload with its recording (one statement, joined), or TusError 404 (never existed or terminated)
    / 410 (expired)."""
    try:
        upload = Upload.objects.select_related("recording").get(pk=uuid.UUID(str(upload_id)))
    except (Upload.DoesNotExist, ValueError):
        raise TusError("not_found", "no such upload", status=404) from None
    if upload.state == Upload.State.EXPIRED:
        raise TusError("gone", "this upload has expired", status=410)
    return upload


def _acquire(upload: Upload, offset: int, now: datetime) -> str:
    """The upload's lease, claimed only while its row is still open at `offset` with the length the
    caller's checks used (a compare-and-swap: the row read before is current from here on)."""
    same_length = Q(length__isnull=True) if upload.length is None else Q(length=upload.length)
    token = Upload.objects.filter(same_length, pk=upload.pk, state=Upload.State.OPEN, offset=offset).lease(
        seconds=settings.NETCALL_UPLOAD_LOCK_SECONDS, now=now
    )
    if token is not None:
        return token
    current = upload_get(upload.pk)
    if current.offset != offset:
        raise TusError("offset_mismatch", f"the upload is at offset {current.offset}, not {offset}", status=409)
    if current.state == Upload.State.COMPLETE:
        raise TusError("complete", "the upload is already complete", status=409)
    if current.length != upload.length:
        raise TusError("length_changed", "another request declared the upload's length; retry", status=409)
    raise TusError("locked", "another request is writing to this upload; retry after it ends", status=423)


def upload_append(
    *,
    upload: Upload,
    offset: int,
    stream: Readable,
    content_length: int | None,
    checksum: Checksum | None = None,
    declared_length: int | None = None,
    partial: bool = False,
) -> AppendResult:
    """Append a PATCH body at `offset`. 409 stale offset, 413 too large, 423 locked, 460 bad checksum.

    `upload` is the row as the caller read it (`upload_get`, ownership checked): it is not read again. The
    lease claims it only if it is still open at `offset` with that length, and from then on only this
    request changes what the answer reports, so the row is updated in memory from what the release
    writes instead of being read back. A body cut short (the client went away) keeps the bytes that
    arrived, unless a checksum was sent: then nothing of it is kept, since it cannot be verified.
    """
    if upload.state == Upload.State.COMPLETE and offset == upload.offset and not content_length:
        return AppendResult(upload=upload, written=0)  # a repeated final PATCH: already done
    length = upload.length
    if declared_length is not None:
        if length is not None and declared_length != length:
            raise TusError("length_mismatch", f"the upload's length is already {length}")
        if declared_length < upload.offset:
            raise TusError("length_mismatch", f"'Upload-Length' is below the offset {upload.offset}")
        _check_size(declared_length)
        length = declared_length
    limit = settings.NETCALL_UPLOAD_MAX_SIZE if length is None else length
    if content_length is not None and offset + content_length > limit:
        if length is None:
            raise TusError("too_large", f"uploads may be at most {limit} bytes", status=413)
        raise TusError("too_large", f"the body would go past the upload's length {length}", status=413)
    # The channel's quota binds uploads created without a length: this one may grow to what the others
    # leave. A length declared at creation was counted then (and is counted for every upload created
    # since), so such an upload may always reach it: its bytes are bounded by `limit`, no query needed.
    quota_end = limit
    if upload.length is None:
        quota_end = _channel_room(upload.channel, excluding=upload.id)
        if max(length or 0, offset + (content_length or 0)) > quota_end:
            raise _channel_quota_error()
    upload_id = upload.id
    token = _acquire(upload, offset, _now())
    fields: dict[str, object] = {}  # what the release writes: nothing when the body was refused
    digest = None
    try:
        written, digest = _write_body(
            upload_id, token, offset, stream, content_length, checksum, limit, length, quota_end
        )
        now = _now()
        fields = {"offset": offset + written, "updated_at": now, "expires_at": _expiry(now)}
        if declared_length is not None and upload.length is None:
            fields["length"] = declared_length
        if partial:
            metadata = dict(upload.metadata)
            metadata["netcall-partial"] = "1"
            fields["metadata"] = metadata
    finally:
        # Only while the row is still open: an upload expired meanwhile is not given an offset.
        released = Upload.objects.filter(pk=upload_id, state=Upload.State.OPEN).release(token, **fields)
    if released:
        for name, value in fields.items():  # the row is now exactly this (we held it): no read back
            setattr(upload, name, value)
        upload.locked_until, upload.lock_token = None, ""
        if digest is not None:
            _digests.put(upload_id, offset + written, digest)
    else:
        upload.refresh_from_db()  # lost to another request, or expired: what the row says now
    if upload.length is not None and declared_length is not None and upload.offset < upload.length:
        recordings.recording_length_known(upload=upload)
    if upload.is_complete:
        upload_complete(upload_id=upload_id)
        upload = upload_get(upload_id)  # completed, and its recording filled
    return AppendResult(upload=upload, written=written)


class _LeaseLost(TusError):
    """Another request took the upload over while this one was writing (our lease ran out)."""


def _write_body(
    upload_id: uuid.UUID,
    token: str,
    offset: int,
    stream: Readable,
    content_length: int | None,
    checksum: Checksum | None,
    limit: int,
    length: int | None,
    quota_end: int,
) -> tuple[int, hashlib._Hash | None]:
    path = staging_path(upload_id)
    hasher = checksum.new_hash() if checksum else None
    running = _digests.take(upload_id, offset)
    digest = _BackgroundHash(running) if running is not None else None
    lock_seconds = settings.NETCALL_UPLOAD_LOCK_SECONDS
    written = 0
    handed_to_disk = 0
    renewed_at = time.monotonic()
    try:
        handle: IO[bytes] = path.open("r+b")
    except FileNotFoundError:
        raise TusError("gone", "this upload's data is gone", status=410) from None
    with handle:
        handle.seek(offset)
        handle.truncate()  # bytes past the offset were never acknowledged (a writer died mid-body)
        try:
            while content_length is None or written < content_length:
                want = READ_BYTES if content_length is None else min(READ_BYTES, content_length - written)
                data = stream.read(want)
                if not data:
                    break
                if offset + written + len(data) > limit:
                    what = "the upload's length" if length is not None else "the size limit"
                    raise TusError("too_large", f"the body goes past {what} ({limit} bytes)", status=413)
                if offset + written + len(data) > quota_end:
                    raise _channel_quota_error()
                handle.write(data)
                if hasher is not None:
                    hasher.update(data)
                if digest is not None:
                    digest.update(data)
                written += len(data)
                if written - handed_to_disk >= WRITEBACK_BYTES:
                    handle.flush()
                    _start_writeback(handle.fileno(), offset + handed_to_disk, written - handed_to_disk)
                    handed_to_disk = written
                # The lease is renewed by time: a body of any size or speed keeps it while it arrives.
                if time.monotonic() - renewed_at > lock_seconds / 3:
                    if not Upload.objects.filter(pk=upload_id).renew(token, seconds=lock_seconds):
                        raise _LeaseLost("locked", "this request lost the upload to another one; retry", status=423)
                    renewed_at = time.monotonic()
            cut_short = content_length is not None and written < content_length
            if checksum is not None and hasher is not None:
                if cut_short:
                    raise TusError("incomplete_body", "the body ended before Content-Length")
                if not checksum.matches(hasher.digest()):
                    raise TusError("checksum_mismatch", f"the chunk's {checksum.algorithm} does not match", status=460)
            handle.flush()
            os.fsync(handle.fileno())  # durable before the offset moves (the release, in the caller)
        except _LeaseLost:
            if digest is not None:
                digest.result()
            raise  # the file is another request's now: leave it alone
        except BaseException:
            # Refused (413, 460) or broken: none of this body counts. A body that merely ended early
            # (the stream returned EOF: the client went away) is not an error and keeps its bytes.
            if digest is not None:
                digest.result()
            handle.seek(offset)
            handle.truncate()
            handle.flush()
            raise
    return written, digest.result() if digest is not None else None


def _start_writeback(fd: int, start: int, length: int) -> None:
    """Have the kernel start writing these bytes to the disk now, without waiting for it.

    The fsync at the end of a PATCH then finds little left to write, so the disk works while the body
    still arrives instead of after it (docs/performance.md). On Linux `POSIX_FADV_DONTNEED` starts
    writeback of the range's dirty pages (and drops the clean ones from the cache: nothing reads a
    staging file back while it is written, its sha256 is computed on the way in); elsewhere it is a hint.
    """
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, start, length, os.POSIX_FADV_DONTNEED)


def upload_complete(*, upload_id: uuid.UUID) -> None:
    """All bytes are here: copy them into storage (constant memory) and hand them to the library."""
    with transaction.atomic():
        claimed = Upload.objects.filter(pk=upload_id, state=Upload.State.OPEN, offset=F("length")).update(
            state=Upload.State.COMPLETE, completed_at=_now()
        )
    if not claimed:
        return
    upload = Upload.objects.get(pk=upload_id)
    path = staging_path(upload.id)
    sha256 = upload_sha256(upload.id, upload.offset)
    _digests.forget(upload.id)
    recordings.recording_upload_finished(upload=upload, staging=path, sha256=sha256, partial=False, move=True)
    path.unlink(missing_ok=True)
    logger.info("Upload(%s) complete: %d bytes, sha256 %s", upload.id, upload.offset, sha256)


def upload_terminate(upload: Upload) -> None:
    """tus termination: the staging bytes and the upload go; a recording already made from it stays."""
    staging_path(upload.id).unlink(missing_ok=True)
    _digests.forget(upload.id)
    Upload.objects.filter(pk=upload.pk).delete()
    recordings.recording_upload_terminated(upload=upload)
    logger.info("Upload(%s) terminated by %s", upload.id, upload.account)
