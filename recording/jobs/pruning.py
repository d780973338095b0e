"""Periodic pruning of rows that only matter for a while: revoked tokens past their own expiry (they can no
longer be presented), transcode requests older than the hour NETCALL_TRANSCODE_PER_HOUR counts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from recording.jobs.queue import periodic
from recording.models import RevokedToken, TranscodeRequest

PRUNE_INTERVAL_SECONDS = 3600.0
TRANSCODE_WINDOW = timedelta(hours=1)


def rows_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what no check reads any more; returns how many rows of each kind went."""
    now = now or timezone.now()
    tokens, _ = RevokedToken.objects.filter(expires_at__lt=int(now.timestamp())).delete()
    transcodes, _ = TranscodeRequest.objects.filter(requested_at__lt=now - TRANSCODE_WINDOW).delete()
    return {"revoked_tokens": tokens, "transcode_requests": transcodes}


@periodic("rows.prune", PRUNE_INTERVAL_SECONDS)
def _prune() -> None:
    rows_prune()
