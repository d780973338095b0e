"""The callback (抄送): a signed HTTP POST to the customer's server when a live session's files are ready.

Durable: each callback is a `CallbackDelivery` row; the job runner (recording/live_jobs.py) posts due
ones, retries failures with exponential backoff until a 2xx or the deadline, and never posts one again
once it was acknowledged. An attempt is claimed by moving `next_attempt_at` forward with a
compare-and-swap, so several runners never post the same attempt. (A runner killed between the
receiver's 2xx and recording it would post once more after the claim expires: receivers deduplicate on
the event id, see docs/live.md.)

Signature: `X-Netcall-Signature: v1=<hex HMAC-SHA256(NETCALL_CALLBACK_SECRET, timestamp + "." + body)>`
with the timestamp (unix seconds) in `X-Netcall-Timestamp`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from recording.library import storage
from recording.models import Recording
from recording.models.live import CallbackDelivery, LiveFile, LiveSession

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v1"
USER_AGENT = "netcall-callback/1"
CLAIM_MARGIN = 30  # seconds beyond the request timeout that an attempt stays claimed
FILE_KINDS: dict[str, str] = {track.value: track.value for track in LiveFile.Track}


def callback_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def callback_verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: int = 300) -> bool:
    """What a receiver does (docs/live.md has the same in a standalone example)."""
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(callback_signature(secret, timestamp, body), signature)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _file_entry(live_file: LiveFile, *, ttl: int, expires: datetime) -> dict[str, Any]:
    """A file that can be downloaded, or one that is missing or failed with `status` and `reason`."""
    recording = live_file.recording
    entry: dict[str, Any] = {
        "kind": FILE_KINDS[live_file.track],
        "account": live_file.account or None,
        "segment": live_file.segment,
    }
    if live_file.reason:
        entry.update(reason=live_file.reason, reasonDetail=live_file.detail)
    if recording is None:
        return {**entry, "status": "missing"}
    if recording.status not in Recording.PLAYABLE_STATUSES or not recording.file:
        reason = live_file.reason or "finish_failed"
        return {
            **entry,
            "id": str(recording.pk),
            "status": "failed",
            "reason": reason,
            "reasonDetail": live_file.detail or recording.failure_reason[:200],
        }
    return {
        **entry,
        "id": str(recording.pk),
        **recording.format_as_wire(),
        "size": recording.size,
        "duration": recording.duration,
        "sha256": recording.sha256,
        "status": recording.status,
        "startedAt": _iso(live_file.started_at),
        "senderStart": live_file.sender_start,
        "url": storage.absolute_url(storage.download_url(recording.pk, ttl=ttl)),
        "urlExpiresAt": expires.isoformat(),
    }


def live_payload(session: LiveSession, *, event_id: str) -> dict[str, Any]:
    """The callback body of a finished live session: every kept file with a signed download URL, and an
    entry with `status` and `reason` for every file it should have and has not (docs/live.md)."""
    ttl = settings.NETCALL_CALLBACK_URL_TTL
    expires = timezone.now() + timedelta(seconds=ttl)
    files = []
    for live_file in session.files.select_related("recording").order_by("started_at", "id"):
        files.append(_file_entry(live_file, ttl=ttl, expires=expires))
    return {
        "id": event_id,
        "type": CallbackDelivery.EVENT_LIVE_RECORDED,
        "channel": session.channel,
        "session": str(session.pk),
        "host": session.host,
        "rtmpUrl": session.rtmp_url,
        "startedAt": _iso(session.started_at or session.created_at),
        "endedAt": _iso(session.ended_at),
        "endReason": session.end_reason,
        "pausedIntervals": [
            # an interval still open when the session ended (it ended while paused) closes with it
            {"start": p["start"], "end": p.get("end") or _iso(session.ended_at)}
            for p in session.record_paused or []
        ],
        "files": files,
    }


def callback_enqueue_live(session: LiveSession) -> CallbackDelivery | None:
    """Queue the callback of a finished session (once per session); None when none is configured."""
    url = settings.NETCALL_CALLBACK_URL
    if not url:
        return None
    existing = CallbackDelivery.objects.filter(
        live_session=session, event_type=CallbackDelivery.EVENT_LIVE_RECORDED
    ).first()
    if existing is not None:
        return existing
    now = timezone.now()
    delivery = CallbackDelivery(
        live_session=session,
        url=url,
        next_attempt_at=now,
        deadline_at=now + timedelta(seconds=settings.NETCALL_CALLBACK_DEADLINE_SECONDS),
        payload={},
    )
    delivery.payload = live_payload(session, event_id=str(delivery.event_id))
    delivery.save()
    logger.info("CallbackDelivery(%s) queued for %s", delivery.event_id, session.pk)
    return delivery


def callback_redeliver(delivery: CallbackDelivery) -> None:
    """Operator action: post again (same event id, fresh download URLs), whatever happened before."""
    now = timezone.now()
    if delivery.live_session is not None:
        delivery.payload = live_payload(delivery.live_session, event_id=str(delivery.event_id))
    delivery.delivered_at = delivery.failed_at = None
    delivery.next_attempt_at = now
    delivery.deadline_at = now + timedelta(seconds=settings.NETCALL_CALLBACK_DEADLINE_SECONDS)
    delivery.url = settings.NETCALL_CALLBACK_URL or delivery.url
    delivery.save()
    logger.info("CallbackDelivery(%s) re-queued by an operator", delivery.event_id)


def _backoff(attempts: int) -> float:
    base = float(settings.NETCALL_CALLBACK_RETRY_BASE_SECONDS)
    return min(float(settings.NETCALL_CALLBACK_RETRY_MAX_SECONDS), base * 2 ** max(0, attempts - 1))


def _claim(delivery: CallbackDelivery, now: datetime) -> str | None:
    """Lease one attempt (the post's timeout and a margin): two runners never post the same attempt."""
    pending = CallbackDelivery.objects.filter(pk=delivery.pk, delivered_at__isnull=True, failed_at__isnull=True)
    return pending.lease(seconds=settings.NETCALL_CALLBACK_TIMEOUT_SECONDS + CLAIM_MARGIN, now=now)


def _post(delivery: CallbackDelivery) -> tuple[int | None, str]:
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    secret = settings.NETCALL_CALLBACK_SECRET
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Netcall-Event": delivery.event_type,
        "X-Netcall-Event-Id": str(delivery.event_id),
        "X-Netcall-Timestamp": timestamp,
        "X-Netcall-Signature": callback_signature(secret, timestamp, body),
    }
    request = urllib.request.Request(delivery.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.NETCALL_CALLBACK_TIMEOUT_SECONDS) as response:
            response.read(65536)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"{exc.__class__.__name__}: {getattr(exc, 'reason', exc)}"


def callback_attempt(delivery: CallbackDelivery, lease: str) -> bool:
    """Post once (the caller holds the attempt's lease); schedule the next on failure. True if acknowledged."""
    status, error = _post(delivery)
    now = timezone.now()
    attempts = delivery.attempts + 1
    if status is not None and 200 <= status < 300:
        CallbackDelivery.objects.filter(pk=delivery.pk).release(
            lease, attempts=attempts, delivered_at=now, next_attempt_at=None, last_status=status, last_error=""
        )
        logger.info("CallbackDelivery(%s) acknowledged (attempt %d)", delivery.event_id, attempts)
        return True
    next_at = now + timedelta(seconds=_backoff(attempts))
    fields: dict[str, Any] = {"attempts": attempts, "last_status": status, "last_error": error[:2000]}
    if next_at > delivery.deadline_at:
        fields.update(next_attempt_at=None, failed_at=now)
        logger.error("CallbackDelivery(%s) gave up after %d attempts: %s", delivery.event_id, attempts, error)
    else:
        fields["next_attempt_at"] = next_at
        logger.warning(
            "CallbackDelivery(%s) attempt %d failed (%s); next at %s", delivery.event_id, attempts, error, next_at
        )
    CallbackDelivery.objects.filter(pk=delivery.pk).release(lease, **fields)
    return False


def callbacks_deliver_due(*, now: datetime | None = None, limit: int = 20) -> int:
    """Post every due callback this runner can claim; returns how many were acknowledged."""
    now = now or timezone.now()
    due = CallbackDelivery.objects.filter(
        Q(next_attempt_at__lte=now), delivered_at__isnull=True, failed_at__isnull=True
    ).order_by("next_attempt_at")[:limit]
    acknowledged = 0
    for delivery in list(due):
        lease = _claim(delivery, now)
        if lease is not None:
            acknowledged += int(callback_attempt(delivery, lease))
    return acknowledged
