"""What the client-recording tests share: a call of participants with recording events collected in each
page, and checks of a recorded file (durations, colour, tones) with messages that name what was measured."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from playwright.sync_api import Download, expect
from playwright.sync_api import Error as PlaywrightError

from recording.testing import media
from recording.testing import recorder as rec
from recording.testing.browser import DEFAULT_TIMEOUT_MS, ParticipantPage
from recording.testing.capture import ALICE, BOB, CAROL, Participant

OpenParticipant = Callable[..., ParticipantPage]
TONES = [float(p.tone_hz) for p in (ALICE, BOB, CAROL)]
COLOUR_TOLERANCE = media.COLOUR_TOLERANCE

EVENTS_JS = """
() => {
  if (window.__recEvents) return;
  window.__recEvents = [];
  for (const name of ['recordStateChange', 'recordEnded']) {
    window.netcall.on(name, (e) => {
      const { result, error, ...rest } = e;
      window.__recEvents.push({ name, t: Date.now(), ...rest,
        result: result ? { fileName: result.fileName, size: result.size, reason: result.reason } : null,
        error: error ? String(error.code || error) : null });
    });
  }
}
"""

# A file of the origin-private file system ("a/b/c.mp4"), as base64.
READ_OPFS_JS = """
async (path) => {
  let dir = await navigator.storage.getDirectory();
  const parts = path.split('/');
  const name = parts.pop();
  for (const part of parts) dir = await dir.getDirectoryHandle(part);
  const file = await (await dir.getFileHandle(name)).getFile();
  const url = await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.readAsDataURL(file);
  });
  return url.slice(url.indexOf(';base64,') + 8);
}
"""


def unique_channel(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def join_call(open_participant: OpenParticipant, people: Sequence[Participant], channel: str) -> list[ParticipantPage]:
    pages = [open_participant(p) for p in people]
    for page in pages:
        page.join(channel)
        page.page.evaluate(EVENTS_JS)
    for page in pages:
        page.wait_for_members(p.account for p in people if p.account != page.account)
    return pages


def record_events(page: ParticipantPage, name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = page.page.evaluate("() => window.__recEvents")
    return [e for e in events if e["name"] == name]


def wait_record_event(page: ParticipantPage, name: str, **match: Any) -> dict[str, Any]:
    page.page.wait_for_function(
        """([name, match]) => (window.__recEvents || []).some(
            (e) => e.name === name && Object.entries(match).every(([k, v]) => e[k] === v))""",
        arg=[name, match],
        timeout=rec.RECORD_TIMEOUT_MS,
    )
    return next(e for e in record_events(page, name) if all(e.get(k) == v for k, v in match.items()))


def recorded_seconds(file: rec.Recorded) -> float:
    return (file.meta["stoppedAt"] - file.meta["startedAt"]) / 1000


def assert_durations(file: rec.Recorded) -> None:
    """Header, decoded and reported durations all match the time recorded, within 10%."""
    expected = recorded_seconds(file)
    header = media.header_duration(file.path)
    assert header is not None, f"{file.path.name}: no duration in the header"
    decoded = media.decode(file.path)
    assert media.within(header, expected), f"{file.path.name}: header says {header:.2f} s, recorded {expected:.2f} s"
    assert media.within(file.duration, expected), f"reported {file.duration:.2f} s, recorded {expected:.2f} s"
    assert media.within(decoded.audio_seconds, expected), f"audio decodes to {decoded.audio_seconds:.2f} s"
    if "video" in decoded.codecs:
        assert media.within(decoded.video_seconds, expected), f"video decodes to {decoded.video_seconds:.2f} s"


def assert_colour(decoded: media.Decoded, participant: Participant) -> None:
    problems = media.colour_problems(media.main_colour(decoded).tolist(), participant.rgb, COLOUR_TOLERANCE)
    assert not problems, f"{participant.account}'s video: " + "; ".join(problems)


def assert_tones(decoded: media.Decoded, present: set[float], what: str) -> None:
    # Skip the first second: the recorder may start before the first audio arrives.
    samples = media.segment(decoded, 1.0, decoded.audio_seconds)
    levels = media.tone_levels(samples, decoded.rate, TONES)
    problems = media.tone_problems(levels, {tone: tone in present for tone in TONES})
    assert not problems, f"{what}: " + "; ".join(problems) + f"; levels {levels}"


def new_page_in_same_profile(old: ParticipantPage) -> ParticipantPage:
    """Another page in `old`'s browser context: same origin storage (IndexedDB, file system, locks)."""
    page = old.context.new_page()
    wrapper = ParticipantPage(participant=old.participant, base_url=old.base_url, context=old.context, page=page)
    page.on("console", wrapper._on_console)
    page.on("pageerror", wrapper._on_pageerror)
    return wrapper


def crash(page: ParticipantPage) -> None:
    """Kill the page's renderer: no unload handler, no stop, nothing saved by the page itself."""
    # The navigation fails (the page is gone): suppressed, and the crash event is what we wait for.
    with page.page.expect_event("crash", timeout=DEFAULT_TIMEOUT_MS), contextlib.suppress(PlaywrightError):
        page.page.goto("chrome://crash", timeout=DEFAULT_TIMEOUT_MS)


def crash_and_recover(page: ParticipantPage, channel: str, count: int) -> tuple[ParticipantPage, Download]:
    """Crash `page`, join `channel` from a new page of the same browser and wait until the demo page lists
    `count` recovered recordings; the new page, and the download the recovery made."""
    crash(page)
    after = new_page_in_same_profile(page)
    with after.page.expect_download(timeout=rec.RECORD_TIMEOUT_MS) as download_info:
        after.join(channel)
        files = after.page.locator('#record-files li[data-recovered="true"]')
        expect(files).to_have_count(count, timeout=rec.RECORD_TIMEOUT_MS)
    return after, download_info.value
