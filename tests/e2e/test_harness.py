"""Checks of the end-to-end harness itself, so a harness fault is not mistaken for an SDK bug."""

from __future__ import annotations

from collections.abc import Callable

import av
import numpy as np
import pytest

from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE, BOB, CAROL, VIDEO_FPS, VIDEO_HEIGHT, VIDEO_WIDTH, MediaFiles, Participant

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("person", [ALICE, BOB, CAROL], ids=lambda p: p.account)
def test_media_files_decode(media_for: Callable[[Participant], MediaFiles], person: Participant) -> None:
    files = media_for(person)

    with av.open(str(files.wav)) as container:
        audio = container.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio)]).astype(float)
        rate = audio.rate
    spectrum = np.abs(np.fft.rfft(samples))
    assert rate == 48_000
    assert len(samples) / rate >= 2
    assert abs(np.argmax(spectrum) * rate / len(samples) - person.tone_hz) < 1

    with av.open(str(files.y4m)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (VIDEO_WIDTH, VIDEO_HEIGHT)
        assert video.average_rate == VIDEO_FPS
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video)]
    assert len(frames) >= VIDEO_FPS
    mean = frames[-1].reshape(-1, 3).mean(axis=0)
    assert np.all(np.abs(mean - np.array(person.rgb)) <= 3), mean


def test_fake_devices_capture_participant_media(open_participant: Callable[..., ParticipantPage]) -> None:
    """Chromium's fake camera and microphone carry the participant's colour and tone."""
    page = open_participant(BOB)
    page.page.goto(page.base_url + "/")
    page.page.evaluate(
        """async () => {
            window.__local = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
        }"""
    )
    page.expect_probe(lambda: page.probe_expression("local", "window.__local"), BOB, "bob fake devices", timeout=20)
