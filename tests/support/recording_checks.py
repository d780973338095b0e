"""What the client-recording tests share: a call of participants with recording events collected in each
page, and checks of a recorded file (durations, colour, tones) with messages that name what was measured."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from recording.testing import media
from recording.testing import recorder as rec
from recording.testing.browser import ParticipantPage
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
