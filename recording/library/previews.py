"""The previews job: a poster frame, a thumbnail strip, a waveform and the audio level track of a finished
recording, stored beside it (names from recording/library/storage.py) and served with the same signed links.

Queued once a recording is playable (recording/library/finishing.py for uploads, recording/live/jobs.py for
server recordings). A recording that plays but yields no pictures keeps playing: a failure here is logged
and leaves the recording as it is. The media work is recording/media/preview.py.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from recording.jobs.queue import job_enqueue, job_handler
from recording.library import storage
from recording.media import preview
from recording.models import Recording

logger = logging.getLogger(__name__)

PREVIEWS_JOB = "recording.previews"
PREVIEW_FIELDS = ("poster_file", "thumbnails_file", "waveform_file", "levels_file")


def recording_previews_enqueue(*, recording_id: str, sha256: str) -> None:
    job_enqueue(PREVIEWS_JOB, {"recording": recording_id, "sha256": sha256})


def _started_at(recording: Recording) -> Any:
    """The timeline's zero when nobody set it: a server recording was created when it began; an upload
    sent after the recording stopped (a streamed one has `started_at` from its creation) ended then."""
    if recording.started_at is not None:
        return recording.started_at
    if recording.kind == Recording.Kind.SERVER or recording.duration is None:
        return recording.created_at
    return recording.created_at - timedelta(seconds=recording.duration)


@job_handler(PREVIEWS_JOB, timeout=60 * 60)
def recording_previews(payload: dict[str, Any]) -> None:
    """Write the pictures and the level track of one recording (again: the old ones are replaced)."""
    recording = Recording.objects.filter(pk=payload["recording"]).first()
    if recording is None or recording.sha256 != payload["sha256"] or not recording.is_playable:
        return
    name = (recording.seekable_file or recording.file).name
    saved: dict[str, str] = {}
    with storage.local_copy(name) as path, tempfile.TemporaryDirectory(prefix="netcall-previews-") as tmp:
        directory = Path(tmp)
        try:
            made = preview.media_previews(path, directory, duration=recording.duration)
        except Exception:  # a picture is a nicety: the recording stays as it is
            logger.exception("Recording(%s): no previews", recording.pk)
            return
        levels = directory / "levels.json"
        levels.write_text(json.dumps(made.timeline(), separators=(",", ":")))
        for role, local, extension in (
            ("poster", made.poster, "png"),
            ("thumbnails", made.thumbnails, "png"),
            ("waveform", made.waveform, "png"),
            ("levels", levels, "json"),
        ):
            if local is not None:
                saved[storage.ROLES[role]] = storage.storage_save_local(
                    storage.recording_file_name(recording.pk, role, extension), local
                )
    old = [getattr(recording, field).name for field in PREVIEW_FIELDS]
    values: dict[str, Any] = {field: saved.get(field, "") for field in PREVIEW_FIELDS}
    values["started_at"] = _started_at(recording)
    if not Recording.objects.filter(pk=recording.pk, sha256=payload["sha256"]).update(**values):
        old = list(saved.values())  # replaced or deleted meanwhile: what was written goes
    for stale in old:
        storage.storage_delete(stale)
    logger.info("Recording(%s) previews: %s", recording.pk, ", ".join(sorted(saved)) or "none")
