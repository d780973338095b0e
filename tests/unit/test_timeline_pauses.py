"""A server recording's pauses on its file's timeline (recording/library/timeline.py): points, not spans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from recording.library.timeline import recording_paused_spans


def test_each_pause_is_a_point_of_the_file_less_the_pauses_before_it() -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def at(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat()

    session = SimpleNamespace(record_paused=[{"start": at(10), "end": at(13)}, {"start": at(20), "end": at(25)}])
    recording: Any = SimpleNamespace(live_file=SimpleNamespace(session=session), started_at=start, duration=22)
    # 10 s recorded, 3 s paused, 7 s more (file at 17 s), 5 s paused
    assert recording_paused_spans(recording) == [(10.0, 3.0), (17.0, 5.0)]


def test_an_upload_has_no_pauses_and_bad_rows_are_skipped() -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    upload: Any = SimpleNamespace(started_at=start, created_at=start, duration=5)
    assert recording_paused_spans(upload) == []
    session = SimpleNamespace(record_paused=[{"start": "not a time"}, {"start": start.isoformat(), "end": None}])
    recording: Any = SimpleNamespace(live_file=SimpleNamespace(session=session), started_at=start, duration=5)
    assert recording_paused_spans(recording) == [(0.0, 0.0)]
