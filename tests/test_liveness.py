"""The liveness statement of a process (recording/signalling/rooms.py `members_touch`), on either engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from recording.models import Member, Room
from recording.signalling import rooms

pytestmark = pytest.mark.django_db


def members(count: int) -> list[Member]:
    room = Room.objects.create(name="liveness")
    return [
        rooms.member_add(
            room=room, account=f"m{i}", channel_name=f"c{i}", role=Member.Role.MEMBER, audio=True, video=True
        )
        for i in range(count)
    ]


def test_one_statement_moves_every_member_forward_and_names_the_missing(django_assert_num_queries) -> None:
    joined = members(3)
    later = timezone.now() + timedelta(seconds=30)
    earlier = timezone.now() - timedelta(hours=1)
    with django_assert_num_queries(1):
        assert rooms.members_touch(sessions=[m.session for m in joined], at=later) == []
    assert {m.last_seen for m in Member.objects.all()} == {later}
    rooms.members_touch(sessions=[joined[0].session], at=earlier)  # never moves back
    assert Member.objects.get(pk=joined[0].pk).last_seen == later
    gone = joined[1].session
    joined[1].delete()
    assert rooms.members_touch(sessions=[gone, joined[2].session, "no-such-session"], at=later) == [
        gone,
        "no-such-session",
    ]
    assert rooms.members_touch(sessions=[], at=later) == []


def test_thousands_of_members_in_one_statement(django_assert_num_queries) -> None:
    joined = members(40)
    # Far past SQLite's 32,766 parameters if each session were one: the list travels as one parameter.
    sessions = [m.session for m in joined] + [f"absent-{i}" for i in range(40_000)]
    at = timezone.now() + timedelta(seconds=5)
    with django_assert_num_queries(2):
        missing = rooms.members_touch(sessions=sessions, at=at)
    assert len(missing) == 40_000
    assert Member.objects.filter(last_seen=at).count() == 40
