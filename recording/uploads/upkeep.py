"""Periodic upkeep of uploads: finish what a crash interrupted, keep idle uploads as partial recordings,
expire abandoned ones."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from recording.jobs.queue import periodic
from recording.library.storage import staging_path
from recording.models import Upload
from recording.uploads import recordings
from recording.uploads.services import upload_complete, upload_sha256

logger = logging.getLogger(__name__)


def uploads_sweep(*, now: datetime | None = None, snapshot: Callable[[Upload], None] | None = None) -> dict[str, int]:
    """Periodic upkeep: finish uploads whose last byte arrived before a crash, keep idle ones as partial
    recordings (the upload stays resumable), and expire abandoned ones. Returns counts per action."""
    now = now or timezone.now()
    counts = {"completed": 0, "partial": 0, "expired": 0}
    for upload_id in Upload.objects.filter(state=Upload.State.OPEN, offset=F("length")).values_list("id", flat=True):
        upload_complete(upload_id=upload_id)
        counts["completed"] += 1
    idle_before = now - timedelta(seconds=settings.NETCALL_UPLOAD_IDLE_SECONDS)
    idle = Upload.objects.filter(
        state=Upload.State.OPEN, updated_at__lt=idle_before, offset__gt=F("snapshot_offset")
    ).filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
    for upload in idle:
        (snapshot or upload_snapshot_partial)(upload)
        counts["partial"] += 1
    for upload in Upload.objects.filter(state=Upload.State.OPEN, expires_at__lt=now):
        staging_path(upload.id).unlink(missing_ok=True)
        Upload.objects.filter(pk=upload.pk, state=Upload.State.OPEN).update(state=Upload.State.EXPIRED, updated_at=now)
        logger.info("Upload(%s) expired at offset %d", upload.id, upload.offset)
        counts["expired"] += 1
    # Finished and expired uploads are kept as tombstones (410) for a while, then forgotten.
    Upload.objects.filter(~Q(state=Upload.State.OPEN), updated_at__lt=now - timedelta(days=30)).delete()
    return counts


def upload_snapshot_partial(upload: Upload) -> None:
    """An upload that stopped growing: keep what arrived as a partial recording, now.

    The upload itself stays open: if its client comes back, it resumes and the recording becomes whole.
    """
    offset = upload.offset
    path = staging_path(upload.id)
    if not path.exists():
        return
    sha256 = upload_sha256(upload.id, offset)
    recordings.recording_upload_finished(upload=upload, staging=path, sha256=sha256, partial=True, limit=offset)
    Upload.objects.filter(pk=upload.pk).update(snapshot_offset=offset)
    logger.info("Upload(%s) idle: kept %d bytes as a partial recording", upload.id, offset)


@periodic("uploads.sweep", 1.0)
def _sweep_uploads() -> None:
    uploads_sweep()
