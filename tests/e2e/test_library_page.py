"""The library page you look at: a browser recording uploaded while it runs gets a poster in the
participant's colour, a waveform and a timeline that marks a member joining and leaving (±1 s), and the
timeline seeks the player from the keyboard."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from recording.testing import recorder as rec
from recording.testing.capture import ALICE
from recording.testing.server import DaphneServer
from tests.support.recording_checks import COLOUR_TOLERANCE, unique_channel
from tests.support.uploads import upload_server_fixture, wait_for_previews  # noqa: F401

from .conftest import PageFactory

pytestmark = [pytest.mark.e2e, pytest.mark.engine]

WAVEFORM_BLUE = np.array([31, 95, 191])


def _pixels(png: bytes) -> np.ndarray:
    with av.open(io.BytesIO(png), "r", format="png_pipe") as container:
        return np.asarray(next(container.decode(video=0)).to_ndarray(format="rgb24")).astype(int)


def test_detail_page_shows_poster_waveform_and_a_timeline_of_who_came_and_went(
    upload_server: DaphneServer, open_participant: PageFactory
) -> None:
    channel = unique_channel("lib")
    alice = open_participant(ALICE, upload_server)
    alice.join(channel)
    # the recorder's own start (MediaRecorder's `start`): the file's time zero
    started = alice.page.evaluate("async () => (await window.netcall.startRecordMp4({save: 'upload'})).startedAt")
    started_ms = int(started)
    rec.wait_page_ms(alice, started_ms, 2000)
    bob = open_participant(ALICE.with_account("bob"), upload_server)  # the same fake camera: one browser
    bob.join(channel)
    joined_ms = int(alice.wait_for_event("joinChannel", "bob")["t"])  # when alice's SDK heard of it
    rec.wait_page_ms(alice, joined_ms, 2000)
    bob.leave_with_button()
    left_ms = int(alice.wait_for_event("leaveChannel", "bob")["t"])
    rec.wait_page_ms(alice, left_ms, 1500)
    stopped = alice.page.evaluate("async () => (await window.netcall.stopRecordMp4()).recordingId")
    data = wait_for_previews(upload_server, stopped)
    assert data["posterUrl"] and data["waveformUrl"] and data["thumbnailsUrl"] and data["timelineUrl"]

    token = upload_server.mint_token("alice", channel)
    alice.page.goto(f"{upload_server.url}/recordings/{channel}/#token={token}")
    row = alice.page.locator(f"tr[data-recording='{stopped}']")
    row.locator("img.library-preview").wait_for()
    row.locator("a").click()
    alice.page.wait_for_function(
        """() => ['recording-poster', 'recording-waveform'].every((id) => {
                const img = document.getElementById(id); return img && img.complete && img.naturalWidth > 0; })"""
    )
    # what a viewer sees: the poster in alice's colour, the waveform drawn (the fake microphone never pauses)
    poster = _pixels(alice.page.locator("#recording-poster").screenshot())
    colour = np.median(poster.reshape(-1, 3), axis=0)
    assert np.all(np.abs(colour - np.array(ALICE.rgb)) <= COLOUR_TOLERANCE), colour
    waveform = _pixels(alice.page.locator("#recording-waveform").screenshot())
    bar = np.abs(waveform - WAVEFORM_BLUE).max(axis=2) < 40
    columns = bar.any(axis=0)
    assert columns[5:-5].mean() > 0.8, columns.mean()  # a bar in (nearly) every column
    assert 0.2 < bar.any(axis=1).mean() < 0.95  # bars as tall as the tone, not the whole picture

    # the timeline marks bob's join and leave where they happened, relative to the recording's start
    marks = alice.page.evaluate(
        """() => [...document.querySelectorAll('.timeline-events li')].map(
                (li) => ({account: li.dataset.account, kind: li.dataset.kind, t: Number(li.dataset.t)}))"""
    )
    bob_marks = {(m["kind"]): m["t"] for m in marks if m["account"] == "bob"}
    assert set(bob_marks) == {"join", "leave"}, marks
    assert bob_marks["join"] == pytest.approx((joined_ms - started_ms) / 1000, abs=1.0), marks
    assert bob_marks["leave"] == pytest.approx((left_ms - started_ms) / 1000, abs=1.0), marks
    assert alice.page.locator(".timeline-marker.marker-join").count() >= 1
    assert alice.page.locator(".thumbnails button").count() >= 2

    # keyboard: focus the "bob left" entry, press Enter, and the player is there, and says so
    leave = alice.page.locator(".timeline-events li[data-kind='leave'][data-account='bob'] button")
    leave.focus()
    alice.page.keyboard.press("Enter")
    alice.page.wait_for_function(
        "(t) => Math.abs(document.getElementById('player').currentTime - t) < 0.5", arg=bob_marks["leave"]
    )
    assert (alice.page.locator("#seek-status").text_content() or "").startswith("Playing from")
