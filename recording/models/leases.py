"""The leased-row pattern: a worker claims a row by compare-and-swap and holds it for a while.

Uploads (one PATCH writes at a time), jobs (one runner per attempt) and callback deliveries (one post per
attempt) all use it. A claim succeeds only where no live lease exists; a lease left by a dead process
simply expires, and the next claim takes the row over. Only the holder of the token renews or releases it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone


def lease_free(now: datetime) -> Q:
    """Rows nobody holds: never leased, released, or whose lease has run out."""
    return Q(locked_until__isnull=True) | Q(locked_until__lt=now)


class LeaseQuerySet(models.QuerySet[Any]):
    def lease(self, *, seconds: float, now: datetime | None = None, **changes: Any) -> str | None:
        """Claim the rows of this queryset that nobody holds, applying `changes` in the same UPDATE.

        Returns the new lease's token, or None when no row could be claimed (held, or filtered out)."""
        now = now or timezone.now()
        token = secrets.token_hex(8)
        claimed = self.filter(lease_free(now)).update(
            locked_until=now + timedelta(seconds=seconds), lock_token=token, **changes
        )
        return token if claimed else None

    def renew(self, token: str, *, seconds: float) -> bool:
        return bool(self.filter(lock_token=token).update(locked_until=timezone.now() + timedelta(seconds=seconds)))

    def release(self, token: str, **changes: Any) -> bool:
        """Give the lease up, applying `changes`; False when the lease was no longer ours."""
        return bool(self.filter(lock_token=token).update(locked_until=None, lock_token="", **changes))


class Leased(models.Model):
    locked_until = models.DateTimeField(null=True, blank=True)
    lock_token = models.CharField(max_length=32, blank=True, default="")

    objects = LeaseQuerySet.as_manager()

    class Meta:
        abstract = True
