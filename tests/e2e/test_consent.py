"""Consent in real browsers: bob joins with recordConsent 'ask'; alice's startRecordMp4('bob') stays pending
until bob answers in the demo's dialog; a refusal rejects it with record_refused; alice's mix leaves bob's
voice out (decoded: alice's tone only); an acceptance starts the recording and bob's own tile says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from recording.testing import media
from recording.testing import recorder as rec
from recording.testing.capture import ALICE, BOB
from tests.support.recording_checks import EVENTS_JS, OpenParticipant, unique_channel

pytestmark = pytest.mark.e2e

PENDING_START = """() => {
    window.__start = 'pending';
    window.netcall.startRecordMp4({account: 'bob', save: 'none'}).then(
        () => { window.__start = 'started'; }, (e) => { window.__start = 'error: ' + e.code; });
}"""


def answer_dialog(page, button: str) -> str:
    """Wait for the demo's consent dialog, read it, press `button` (by keyboard: focus, Enter)."""
    dialog = page.page.locator("#record-request")
    dialog.wait_for(state="visible", timeout=rec.RECORD_TIMEOUT_MS)
    text = page.page.locator("#record-request-text").text_content() or ""
    page.page.locator(f"#record-request-{button}").focus()
    page.page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    return text


def test_consent_pending_refused_mix_without_the_voice_and_accepted(
    open_participant: OpenParticipant, tmp_path: Path
) -> None:
    channel = unique_channel("consent")
    alice = open_participant(ALICE)
    alice.join(channel)
    bob = open_participant(BOB)
    bob.channel = channel
    bob.page.goto(bob.room_url(channel) + "&recordConsent=ask")
    bob.wait_ready()
    for page in (alice, bob):
        page.page.evaluate(EVENTS_JS)
    alice.wait_for_members(["bob"])
    alice.expect_media_from(BOB)

    # pending until bob answers; bob refuses: record_refused
    alice.page.evaluate(PENDING_START)
    assert "alice wants to record you" in answer_dialog(bob, "refuse")
    alice.page.wait_for_function("() => window.__start !== 'pending'", timeout=rec.RECORD_TIMEOUT_MS)
    assert alice.page.evaluate("() => window.__start") == "error: record_refused"

    # the mix: bob is asked and refuses; the mix has alice's voice and not bob's
    alice.page.evaluate(
        "() => { window.__told = []; window.netcall.on('recordConsent', (e) => window.__told.push(e)); }"
    )
    mix = rec.start(alice, "startRecordAac", {"save": "none"})
    assert "audio mix" in answer_dialog(bob, "refuse")
    alice.page.wait_for_function("() => window.__told.length > 0")
    told = alice.page.evaluate("() => window.__told[0]")
    assert (told["target"], told["kind"], told["state"]) == ("bob", "aac", "refused")
    rec.wait_page_ms(alice, mix["startedAt"], 5000)
    recorded = rec.stop(alice, "stopRecordAac", directory=tmp_path, name="mix")
    decoded = media.decode(recorded.path)
    samples = media.segment(decoded, 1.0, decoded.audio_seconds)
    assert media.tones_present(samples, decoded.rate, [ALICE.tone_hz, BOB.tone_hz]) == {ALICE.tone_hz}
    assert media.tone_levels(samples, decoded.rate, [BOB.tone_hz])[BOB.tone_hz] < media.TONE_ABSENT_DB

    # asked again, bob accepts: the recording starts, and bob's own tile shows who records him
    alice.page.evaluate(PENDING_START)
    answer_dialog(bob, "accept")
    alice.page.wait_for_function("() => window.__start !== 'pending'", timeout=rec.RECORD_TIMEOUT_MS)
    assert alice.page.evaluate("() => window.__start") == "started"
    badge = bob.page.locator("figure.tile[data-account='bob'] .recorded-badge")
    badge.wait_for(timeout=rec.RECORD_TIMEOUT_MS)
    assert "alice" in (badge.text_content() or "")
    rec.stop(alice, "stopRecordMp4", "bob", directory=tmp_path, name="bob")
