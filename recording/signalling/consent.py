"""Consent to being recorded: who must be asked, the questions (`record.request`) and their answers.

A member that joined with `recordConsent: 'ask'` (or whose channel makes that the default, settings
NETCALL_RECORD_CONSENT / NETCALL_RECORD_CONSENT_CHANNELS) is asked before anyone records it:

- `record.start` of that member (kind mp4) records nothing yet: it creates a pending RecordConsent and the
  member gets `record.request`; its `record.respond` accepts (the recording notice is made then, and the
  recorder gets `record.consent` with state `accepted`) or refuses (`record.consent` state `refused`).
- `record.start` of the mix (kind aac) starts at once, and every member to be asked gets `record.request`;
  the recorder's mix leaves out whoever has not accepted (the SDK does, told by `record.consent`).

The answers stay (RecordConsent rows); recording/uploads/ attaches them to the uploaded recording and
refuses an upload of a member's recording without that member's consent where it was required.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recording.models import Member, RecordConsent, RecordNotice
from recording.signalling.rooms import RoomError, record_start

logger = logging.getLogger(__name__)

CONSENT_CHOICES = ("ask", "allow")


def consent_default(channel: str) -> str:
    """What a member of `channel` that says nothing is: "ask" or "allow"."""
    if settings.NETCALL_RECORD_CONSENT == "ask" or channel in settings.NETCALL_RECORD_CONSENT_CHANNELS:
        return "ask"
    return "allow"


def consent_required(*, channel: str, recorder: str, target: str) -> bool:
    """Whether an upload of `target`'s recording by `recorder` must carry `target`'s consent: the channel
    asks everyone, or `target` was asked (it had joined with 'ask') when `recorder` started recording it."""
    if target == recorder:
        return False
    if consent_default(channel) == "ask":
        return True
    return RecordConsent.objects.filter(channel=channel, recorder=recorder, target=target, kind="mp4").exists()


def consent_latest(*, channel: str, recorder: str, target: str) -> RecordConsent | None:
    """The newest answer `target` gave to `recorder` recording it (kind mp4), accepted or not."""
    return (
        RecordConsent.objects.filter(channel=channel, recorder=recorder, target=target, kind="mp4")
        .exclude(state=RecordConsent.State.PENDING)
        .order_by("-answered_at")
        .first()
    )


@dataclass(frozen=True)
class Asked:
    """A question to send: `consent` to the member whose socket is `channel_name`."""

    consent: RecordConsent
    channel_name: str


def _ask(member: Member, *, channel: str, recorder: str, kind: str) -> Asked:
    consent = RecordConsent.objects.create(
        channel=channel, recorder=recorder, target=member.account, kind=kind, asked_at=timezone.now()
    )
    logger.info("Room(%s) %s asks %s for consent (%s), request %s", channel, recorder, member.account, kind, consent.pk)
    return Asked(consent, member.channel_name)


def consent_ask_member(*, room_id: int, channel: str, recorder: str, target: str) -> Asked | None:
    """Before recording `target` (mp4): a pending question if `target` must be asked, else None."""
    if target == recorder:
        return None
    member = Member.objects.filter(room_id=room_id, account=target).first()
    if member is None:
        raise RoomError("not_in_room", f"{target!r} is not a member of this channel")
    if member.record_consent != "ask":
        return None
    return _ask(member, channel=channel, recorder=recorder, kind="mp4")


def consent_ask_mix(*, room_id: int, channel: str, recorder: str) -> list[Asked]:
    """Starting the mix (aac): a question for every other member that must be asked."""
    members = Member.objects.filter(room_id=room_id, record_consent="ask").exclude(account=recorder)
    return [_ask(m, channel=channel, recorder=recorder, kind="aac") for m in members]


def consent_ask_newcomer(*, member: Member, channel: str) -> list[Asked]:
    """A member that must be asked joined while others record the mix: a question per running mix, for it."""
    if member.record_consent != "ask":
        return []
    mixes = RecordNotice.objects.filter(room_id=member.room_id, kind="aac").exclude(recorder=member.account)
    return [_ask(member, channel=channel, recorder=notice.recorder, kind="aac") for notice in mixes]


@dataclass(frozen=True)
class Answer:
    consent: RecordConsent
    notice: RecordNotice | None  # the recording notice an accepted mp4 request starts
    recorder_channel: str | None  # the recorder's socket, to tell it; None when it left meanwhile


@transaction.atomic
def consent_answer(*, room_id: int, channel: str, account: str, request: str, accept: bool) -> Answer:
    """`account` answers question `request`; RoomError `no_such_request` for one not asked of it here or
    answered already."""
    try:
        consent_id = uuid.UUID(request)
    except ValueError:
        raise RoomError("no_such_request", "no such record request") from None
    consent = (
        RecordConsent.objects.select_for_update()
        .filter(pk=consent_id, channel=channel, target=account, state=RecordConsent.State.PENDING)
        .first()
    )
    if consent is None:
        raise RoomError("no_such_request", "no such record request is waiting for your answer")
    consent.state = RecordConsent.State.ACCEPTED if accept else RecordConsent.State.REFUSED
    consent.answered_at = timezone.now()
    consent.save(update_fields=["state", "answered_at"])
    recorder = Member.objects.filter(room_id=room_id, account=consent.recorder).first()
    notice = None
    if accept and consent.kind == "mp4" and recorder is not None:
        notice = record_start(
            session=recorder.session, room_id=room_id, recorder=consent.recorder, target=account, kind="mp4"
        )
    logger.info("Room(%s) %s %s %s's request %s", channel, account, consent.state, consent.recorder, consent.pk)
    return Answer(consent, notice, recorder.channel_name if recorder is not None else None)
