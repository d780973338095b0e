"""Where recording files live: the one module that builds file names and paths.

Shared by uploads (recording/uploads.py) and server recordings. Finished files go through Django's
storage API (`storages["default"]`: the filesystem under MEDIA_ROOT unless configured otherwise);
uploads in progress are appended to a local staging file, since storage backends cannot append.
Names are made from UUIDs only: nothing a client sends ever becomes part of a path.

Downloads are signed, time-limited links (`download_url`) served by `recording.library.views.download`
with Content-Disposition, `X-Content-Type-Options: nosniff` and range requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core import signing
from django.core.files.base import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.urls import reverse

logger = logging.getLogger(__name__)

DOWNLOAD_SALT = "netcall.download"
COPY_CHUNK = 1024 * 1024
# Roles of a recording's files and the model field that holds each.
ROLES = {
    "original": "file",
    "seekable": "seekable_file",
    "transcoded": "transcoded_file",
    "poster": "poster_file",
    "thumbnails": "thumbnails_file",
    "waveform": "waveform_file",
    "levels": "levels_file",
}
# The previews job's files, and the type each is served as (always that type: the server wrote them).
PREVIEW_TYPES = {
    "poster": "image/png",
    "thumbnails": "image/png",
    "waveform": "image/png",
    "levels": "application/json",
}
# Signed links that name no file: the timeline (recording/library/timeline.py), built when asked for.
TIMELINE = "timeline"
EXTENSIONS = {
    "video/webm": "webm",
    "audio/webm": "webm",
    "video/mp4": "mp4",
    "audio/mp4": "m4a",
    "video/x-matroska": "mkv",
    "audio/ogg": "ogg",
    "audio/aac": "aac",
}


# What a download is served as: derived from the container the decode check found, never from what the
# uploader claimed (a file claimed as text/html is still served as the media it is, or as bytes).
SERVED_TYPES = {
    "webm": ("video/webm", "audio/webm"),
    "mkv": ("video/x-matroska", "audio/x-matroska"),
    "mp4": ("video/mp4", "audio/mp4"),
    "m4a": ("audio/mp4", "audio/mp4"),
    "ogg": ("video/ogg", "audio/ogg"),
    "mp3": ("audio/mpeg", "audio/mpeg"),
    "wav": ("audio/wav", "audio/wav"),
    "aac": ("audio/aac", "audio/aac"),
    "flac": ("audio/flac", "audio/flac"),
}
OPAQUE_TYPE = "application/octet-stream"


def served_type(container: str, *, has_video: bool) -> str:
    """The Content-Type of a file whose container the decode check found (OPAQUE_TYPE if it found none)."""
    types = SERVED_TYPES.get(container)
    if types is None:
        return OPAQUE_TYPE
    return types[0] if has_video else types[1]


def recording_storage() -> Storage:
    return storages["default"]


def staging_path(upload_id: uuid.UUID | str) -> Path:
    """The local file an upload's bytes are appended to."""
    return Path(settings.NETCALL_UPLOAD_STAGING_DIR) / f"{uuid.UUID(str(upload_id))}.part"


def extension_for(mime_type: str) -> str:
    """The file extension for a media type (parameters ignored); `bin` for anything unknown."""
    return EXTENSIONS.get(mime_type.split(";", 1)[0].strip().lower(), "bin")


def recording_file_name(recording_id: uuid.UUID | str, role: str, extension: str) -> str:
    """`recordings/<id>/<role>-<random>.<ext>`: new for every file written, never reused."""
    if role not in ROLES:
        raise ValueError(f"unknown file role {role!r}")
    if not extension.isalnum() or len(extension) > 8:
        raise ValueError(f"bad extension {extension!r}")
    return f"recordings/{uuid.UUID(str(recording_id))}/{role}-{uuid.uuid4().hex[:12]}.{extension}"


class _LimitedReader:
    """The first `limit` bytes of a binary file, read in chunks."""

    def __init__(self, handle: IO[bytes], limit: int | None) -> None:
        self.handle = handle
        self.remaining = limit

    def read(self, size: int = -1) -> bytes:
        if self.remaining is None:
            return self.handle.read(size)
        if self.remaining <= 0:
            return b""
        want = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.handle.read(want)
        self.remaining -= len(data)
        return data


def storage_save_local(name: str, path: Path, *, limit: int | None = None) -> str:
    """Copy a local file (or its first `limit` bytes) into storage under `name`, in constant memory.

    Returns the name the storage used (it never overwrites: a taken name gets a suffix)."""
    with path.open("rb") as handle:
        reader = _LimitedReader(handle, limit)
        size = path.stat().st_size if limit is None else min(limit, path.stat().st_size)
        wrapped = File(reader, name=name)  # type: ignore[arg-type]
        wrapped.size = size
        return recording_storage().save(name, wrapped)


class _LocalFile(File):  # type: ignore[type-arg]
    """A local file that a filesystem storage may move into place instead of copying it (Django's
    FileSystemStorage moves anything with `temporary_file_path`, as it does for large form uploads)."""

    def temporary_file_path(self) -> str:
        return str(self.name)


def storage_move_local(name: str, path: Path) -> str:
    """Store a local file under `name`, moving it where the storage is this filesystem (a rename on the
    same disk: nothing is read again), else copying it in constant memory. The local file may be gone after."""
    storage = recording_storage()
    if not isinstance(storage, FileSystemStorage):
        return storage_save_local(name, path)
    with path.open("rb") as handle:
        wrapped = _LocalFile(handle, name=str(path))
        wrapped.size = path.stat().st_size
        return storage.save(name, wrapped)


def storage_delete(name: str) -> None:
    if not name:
        return
    try:
        recording_storage().delete(name)
    except FileNotFoundError:
        pass
    except OSError:
        logger.exception("Storage could not delete %s", name)


@contextlib.contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """A local path to a stored file: the file itself on the filesystem, else a temporary copy."""
    storage = recording_storage()
    try:
        yield Path(storage.path(name))
        return
    except NotImplementedError:
        pass
    with tempfile.TemporaryDirectory(prefix="netcall-") as directory:
        local = Path(directory) / Path(name).name
        with storage.open(name, "rb") as source, local.open("wb") as target:
            shutil.copyfileobj(source, target, COPY_CHUNK)
        yield local


# --- signed download links ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadGrant:
    recording_id: str
    role: str
    expires_at: int
    inline: bool


class DownloadLinkError(Exception):
    pass


def download_url(
    recording_id: uuid.UUID | str, *, role: str = "original", ttl: int | None = None, inline: bool = False
) -> str:
    """A path (`/recordings/file/<signed>`) that serves one file of a recording to anyone until it expires;
    for role `timeline`, `/recordings/timeline/<signed>`, the recording's timeline as JSON."""
    if role not in ROLES and role != TIMELINE:
        raise ValueError(f"unknown file role {role!r}")
    lifetime = settings.NETCALL_DOWNLOAD_URL_TTL if ttl is None else ttl
    payload = {"r": str(recording_id), "f": role, "exp": int(time.time() + lifetime), "i": int(inline)}
    signed = signing.dumps(payload, salt=DOWNLOAD_SALT, compress=True)
    return reverse("recording-timeline" if role == TIMELINE else "recording-file", kwargs={"signed": signed})


def download_grant(signed: str, *, now: float | None = None) -> DownloadGrant:
    """What a signed link grants; DownloadLinkError when forged, corrupted or expired."""
    try:
        payload = signing.loads(signed, salt=DOWNLOAD_SALT)
        grant = DownloadGrant(
            recording_id=str(payload["r"]),
            role=str(payload["f"]),
            expires_at=int(payload["exp"]),
            inline=bool(payload.get("i", 0)),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise DownloadLinkError("this download link is not valid") from None
    if grant.role not in ROLES and grant.role != TIMELINE:
        raise DownloadLinkError("this download link is not valid")
    if grant.expires_at <= (time.time() if now is None else now):
        raise DownloadLinkError("this download link has expired")
    return grant


# --- live sessions: the crash-safe files the server recorder writes while a session runs --------------

_SPOOL_NAME = re.compile(r"^[0-9a-f]{32}/[0-9a-f]{32}\.(mp4|m4a|webm|mkv)$")


def live_spool_name(session_id: uuid.UUID | str, recording_id: uuid.UUID | str, extension: str) -> str:
    """`<session>/<recording>.<ext>` under NETCALL_LIVE_SPOOL_DIR, from UUIDs only."""
    name = f"{uuid.UUID(str(session_id)).hex}/{uuid.UUID(str(recording_id)).hex}.{extension}"
    if not _SPOOL_NAME.match(name):
        raise ValueError(f"bad live spool extension {extension!r}")
    return name


def live_spool_path(name: str) -> Path:
    """The local path of a spool name made by `live_spool_name` (anything else is refused)."""
    if not _SPOOL_NAME.match(name):
        raise ValueError(f"not a live spool name: {name!r}")
    return Path(settings.NETCALL_LIVE_SPOOL_DIR) / name


def live_spool_remove(name: str) -> None:
    """Delete a spool file, and its session directory once empty."""
    path = live_spool_path(name)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def absolute_url(path: str) -> str:
    """A URL the customer's server can fetch: NETCALL_PUBLIC_URL + path (callbacks carry these)."""
    base = settings.NETCALL_PUBLIC_URL or "http://localhost:8000"
    return base + path


def file_sha256(path: Path, *, limit: int | None = None) -> str:
    digest = hashlib.sha256()
    remaining = limit
    with path.open("rb") as handle:
        while remaining is None or remaining > 0:
            data = handle.read(COPY_CHUNK if remaining is None else min(COPY_CHUNK, remaining))
            if not data:
                break
            digest.update(data)
            if remaining is not None:
                remaining -= len(data)
    return digest.hexdigest()
