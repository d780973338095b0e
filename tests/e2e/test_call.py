"""Multi-party calls in real browsers: media is checked by content (colour and tone per account)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence

import pytest
from playwright.sync_api import expect

from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE, BOB, CAROL, Participant

pytestmark = pytest.mark.e2e

OpenParticipant = Callable[..., ParticipantPage]
VIDEO = 2  # Netcall.NETCALL_TYPE_VIDEO


def unique_channel(prefix: str) -> str:
    """A channel no other test (or earlier run against the same server) has used."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def others(participants: Iterable[Participant], me: Participant) -> list[Participant]:
    return [p for p in participants if p.account != me.account]


def join_call(open_participant: OpenParticipant, people: Sequence[Participant], channel: str) -> list[ParticipantPage]:
    """Open a page per participant, join them one after the other, wait for the full mesh."""
    pages = [open_participant(p) for p in people]
    join_pages(pages, channel)
    return pages


def join_pages(pages: Sequence[ParticipantPage], channel: str) -> None:
    """Join the open pages one after the other, wait for the full mesh."""
    for page in pages:
        page.join(channel)
    people = [page.participant for page in pages]
    for page in pages:
        page.wait_for_members(p.account for p in others(people, page.participant))


def expect_full_media(pages: Sequence[ParticipantPage], people: Sequence[Participant]) -> None:
    for page in pages:
        for remote in others(people, page.participant):
            page.expect_media_from(remote)


def expect_tiles(page: ParticipantPage, accounts: Iterable[str]) -> None:
    """The room page shows exactly one tile per account, captioned with its name."""
    accounts = sorted(accounts)
    tiles = page.page.locator("figure.tile")
    expect(tiles).to_have_count(len(accounts))
    for account in accounts:
        tile = page.page.locator(f'figure.tile[data-account="{account}"]')
        expect(tile).to_have_count(1)
        expect(tile.locator("video")).to_have_count(1)
        expect(tile.locator("figcaption")).to_contain_text(account)


def foreign_events(page: ParticipantPage, accounts: Iterable[str]) -> list[dict[str, object]]:
    accounts = set(accounts)
    return [e for e in page.events() if e.get("account") in accounts]


def test_three_participants_receive_each_others_media(open_participant: OpenParticipant) -> None:
    people = [ALICE, BOB, CAROL]
    pages = join_call(open_participant, people, unique_channel("three"))

    expect_full_media(pages, people)
    for page in pages:
        expect_tiles(page, [p.account for p in people])


@pytest.mark.engine
@pytest.mark.parametrize("way", ["button", "same_netcall_object"])
def test_leave_and_join_again(open_participant: OpenParticipant, way: str) -> None:
    """Carol leaves and joins again: with the page's buttons, or leaveChannel() then joinChannel() on one
    Netcall instance (the socket stays open)."""
    people = [ALICE, BOB, CAROL]
    channel = unique_channel(f"again-{way}")
    alice, bob, carol = join_call(open_participant, people, channel)
    stayers = (alice, bob)
    for page in stayers:
        page.expect_media_from(CAROL)
    marks = {page.account: page.event_count() for page in stayers}

    if way == "button":
        carol.leave_with_button()
    else:
        carol.page.evaluate("async () => { await window.netcall.leaveChannel(); }")
        assert carol.members() == []
    left_at: dict[str, int] = {}
    for page in stayers:
        event = page.wait_for_event("leaveChannel", "carol", after=marks[page.account])
        assert event.get("reason") == "left", event
        left_at[page.account] = page.events().index(event)
        page.wait_for_members(p.account for p in others([ALICE, BOB], page.participant))
        expect(page.page.locator('figure.tile[data-account="carol"]')).to_have_count(0)
        page.expect_no_stream_from("carol")

    if way == "button":
        carol.join(channel)
    else:
        result = carol.page.evaluate(
            """async ([channelName, fallbackType]) => {
                const type = window.netcall.constructor.NETCALL_TYPE_VIDEO ?? fallbackType;
                const { members } = await window.netcall.joinChannel({ channelName, type });
                return members;
            }""",
            [channel, VIDEO],
        )
        assert len(result) == 2, result
        carol.wait_for_members(["alice", "bob"])
    for page in stayers:
        page.wait_for_event("joinChannel", "carol", after=left_at[page.account] + 1)
        page.wait_for_members(p.account for p in others(people, page.participant))
    expect_full_media([alice, bob, carol], people)
    for page in (alice, bob, carol):
        expect_tiles(page, [p.account for p in people])


def test_reload_recovers_without_the_others_doing_anything(open_participant: OpenParticipant) -> None:
    people = [ALICE, BOB, CAROL]
    alice, bob, carol = join_call(open_participant, people, unique_channel("reload"))
    expect_full_media([alice, bob, carol], people)
    marks = {page.account: page.event_count() for page in (alice, bob)}

    carol.reload()

    carol.wait_for_members(["alice", "bob"])
    for page in (alice, bob):
        # A reload is a re-join with a new session: the others learn of it as a join.
        page.wait_for_event("joinChannel", "carol", after=marks[page.account])
        page.wait_for_members(p.account for p in others(people, page.participant))
    expect_full_media([alice, bob, carol], people)
    for page in (alice, bob, carol):
        expect_tiles(page, [p.account for p in people])


def test_two_rooms_never_see_each_other(open_participant: OpenParticipant) -> None:
    # Four participants in three Chromium processes: dave shares alice's (and her tone and colour).
    dave_p = ALICE.with_account("dave")
    room_a, room_b = unique_channel("room-a"), unique_channel("room-b")
    alice, bob, carol, dave = (open_participant(p) for p in (ALICE, BOB, CAROL, dave_p))
    alice.join(room_a)
    carol.join(room_b)
    bob.join(room_a)
    dave.join(room_b)

    alice.wait_for_event("joinChannel", "bob")
    carol.wait_for_event("joinChannel", "dave")
    for page, partner in ((alice, BOB), (bob, ALICE), (carol, dave_p), (dave, CAROL)):
        page.wait_for_members([partner.account])
        page.expect_media_from(partner)
    rooms = ((alice, bob), (carol, dave))
    for pages, strangers in zip(rooms, (("carol", "dave"), ("alice", "bob")), strict=True):
        for page in pages:
            assert foreign_events(page, strangers) == []
            expect_tiles(page, [p.account for p in pages])
            for stranger in strangers:
                assert page.page.evaluate("(a) => window.netcall.getRemoteStream(a)", stranger) is None

    # A departure in room A is news in room A only.
    bob.leave_with_button()
    alice.wait_for_event("leaveChannel", "bob")
    alice.wait_for_members([])
    for page in (carol, dave):
        assert foreign_events(page, ("alice", "bob")) == []
    carol.wait_for_members(["dave"])
    dave.wait_for_members(["carol"])
    dave.expect_media_from(CAROL)


@pytest.mark.engine
def test_call_recovers_after_the_server_crashes(open_participant: OpenParticipant, daphne_server) -> None:
    """Everyone loses the signalling connection at once (the server process dies and comes back):
    the SDKs reconnect on their own, re-join, and media flows again without anyone doing anything."""
    server = daphne_server(NETCALL_E2E_INSTANCE="crash")
    people = [ALICE, BOB]
    alice, bob = (open_participant(p, server) for p in people)
    for page in (alice, bob):
        # While the server is down the browser itself logs the failed WebSocket attempts.
        page.allow_console_error(r"WebSocket connection to .* failed")
    join_pages([alice, bob], unique_channel("crash"))
    alice.expect_media_from(BOB)
    marks = {page.account: page.event_count() for page in (alice, bob)}

    server.restart()

    for page, other in ((alice, BOB), (bob, ALICE)):
        page.wait_for_event("connectionState", after=marks[page.account])
        page.page.wait_for_function("() => window.netcall.connectionState === 'connected'", timeout=60_000)
        page.wait_for_members([other.account])
        page.expect_media_from(other)
    states = [e.get("state") for e in alice.events()[marks["alice"] :] if e["name"] == "connectionState"]
    assert "reconnecting" in states and states[-1] == "connected", states


@pytest.mark.engine
def test_member_whose_pings_stop_comes_back_by_itself(open_participant: OpenParticipant, daphne_server) -> None:
    """Alice's page timers freeze (Playwright's clock) past the member timeout, so she sends no pings: the
    server expires her (bob sees her leave) and tells her so; once her timers run again the SDK re-joins by
    itself (reconnecting → connected), bob sees her come back, and media flows both ways again."""
    server = daphne_server(NETCALL_MEMBER_TIMEOUT="15", NETCALL_LIVENESS_INTERVAL="1")
    alice, bob = open_participant(ALICE, server), open_participant(BOB, server)
    alice.page.clock.install()  # a fake clock that runs with real time until paused
    join_pages([alice, bob], unique_channel("frozen"))
    expect_full_media([alice, bob], [ALICE, BOB])
    marks = {page.account: page.event_count() for page in (alice, bob)}

    alice.page.clock.pause_at(alice.page.evaluate("() => Date.now()") / 1000 + 1)  # seconds, here
    # Expired between 14 and 16 s after her last ping (every 10 s): at most 26 s from now, plus slack.
    left = bob.wait_for_event("leaveChannel", "alice", after=marks["bob"], timeout_ms=60_000)
    assert left["reason"] == "expired", left
    alice.page.clock.resume()

    alice.page.wait_for_function(
        "() => window.netcall.connectionState === 'connected' && window.netcall.members.includes('bob')",
        timeout=60_000,
    )
    states = [e.get("state") for e in alice.events()[marks["alice"] :] if e["name"] == "connectionState"]
    assert states[:1] == ["reconnecting"] and states[-1] == "connected", states
    bob.wait_for_event("joinChannel", "alice", after=marks["bob"])
    bob.wait_for_members(["alice"])
    alice.expect_media_from(BOB)
    bob.expect_media_from(ALICE)
