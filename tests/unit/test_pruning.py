"""Rows kept only for a while (recording/jobs/pruning.py): gone once no check can read them, kept before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from recording.jobs import queue
from recording.jobs.pruning import rows_prune
from recording.models import RevokedToken, TranscodeRequest

pytestmark = pytest.mark.django_db


def test_expired_revocations_and_old_transcode_requests_go_the_rest_stay() -> None:
    now = timezone.now()
    epoch = int(now.timestamp())
    RevokedToken.objects.create(token_id="gone", account="a", channel="c", expires_at=epoch - 1)
    RevokedToken.objects.create(token_id="kept", account="a", channel="c", expires_at=epoch + 60)
    TranscodeRequest.objects.create(account="a", requested_at=now - timedelta(hours=1, seconds=1))
    kept = TranscodeRequest.objects.create(account="a", requested_at=now - timedelta(minutes=59))

    assert rows_prune(now=now) == {"revoked_tokens": 1, "transcode_requests": 1}

    assert list(RevokedToken.objects.values_list("token_id", flat=True)) == ["kept"]
    assert list(TranscodeRequest.objects.all()) == [kept]


def test_the_job_worker_runs_the_pruning() -> None:
    RevokedToken.objects.create(token_id="gone", account="a", channel="c", expires_at=0)
    (registered,) = [p for p in queue._periodic if p.name == "rows.prune"]
    registered.function()
    assert not RevokedToken.objects.exists()
