"""The library's previews: the finishing job's poster, thumbnail strip, waveform and level track, served by
signed links and listed by the API; the timeline drawn from room events."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from recording.jobs.queue import jobs_run_pending
from recording.library.timeline import recording_timeline
from recording.models import Recording, RoomEvent
from recording.tokens import token_mint
from tests.support.mediafiles import write_test_media
from tests.support.signalling import joined
from tests.support.tus_client import body_of, create, meta, patch, use_upload_dirs

API_KEY = "p" * 32
AUTH = {"Authorization": "Bearer " + API_KEY}
COLOUR = (30, 180, 60)


@pytest.fixture(autouse=True)
def _upload_dirs(settings, tmp_path: Path) -> None:
    use_upload_dirs(settings, tmp_path)
    settings.NETCALL_API_KEY = API_KEY


def _upload(client: Client, data: bytes, **metadata: str) -> Recording:
    location = create(client, length=len(data), metadata=meta(**metadata))
    assert patch(client, location, 0, data).status_code == 204
    jobs_run_pending()
    return Recording.objects.get()


def _png(client: Client, url: str) -> np.ndarray:
    response = client.get(url)
    assert response.status_code == 200, response
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    with av.open(io.BytesIO(body_of(response)), "r", format="png_pipe") as container:
        return np.asarray(next(container.decode(video=0)).to_ndarray(format="rgba"))


def _bar_heights(image: np.ndarray) -> np.ndarray:
    """The height of the waveform's bar in each column (opaque pixels)."""
    return np.asarray((image[:, :, 3] > 0).sum(axis=0))


@pytest.mark.django_db
def test_finishing_writes_a_poster_in_the_colour_and_a_waveform_that_follows_the_tone(
    client: Client, tmp_path: Path
) -> None:
    # 6 s: the tone sounds, is silent from 2 s to 4 s, and sounds again
    clip = write_test_media(tmp_path / "c.webm", seconds=6.0, rgb=COLOUR, silent=((2.0, 4.0),))
    recording = _upload(client, clip.read_bytes(), filetype="video/webm")
    data = client.get(f"/api/recordings/{recording.pk}", headers=AUTH).json()
    assert data["status"] == "ready"
    assert data["posterUrl"] and data["waveformUrl"] and data["thumbnailsUrl"] and data["timelineUrl"]
    poster = _png(client, data["posterUrl"])
    assert np.abs(poster[:, :, :3].reshape(-1, 3).mean(axis=0) - COLOUR).max() < 20  # VP8 keeps it within ±20
    strip = _png(client, data["thumbnailsUrl"])
    assert strip.shape[1] == 3 * 160  # one thumbnail per 2 s
    assert np.abs(strip[:, :, :3].reshape(-1, 3).mean(axis=0) - COLOUR).max() < 20
    heights = _bar_heights(_png(client, data["waveformUrl"]))
    width = len(heights)
    loud = np.r_[heights[int(0.05 * width) : int(0.3 * width)], heights[int(0.7 * width) : int(0.95 * width)]]
    quiet = heights[int(0.38 * width) : int(0.62 * width)]
    assert loud.min() > 5 * max(1, quiet.max()), (loud.min(), quiet.max())  # peaks where the tone is
    # the level track and the spans of sound say the same, in seconds
    timeline = client.get(data["timelineUrl"]).json()
    levels = timeline["levels"]
    assert levels["interval"] == pytest.approx(0.1)
    values = np.array(levels["values"])
    assert values[5:15].min() > -20 and values[25:35].max() < -60
    spans = [(s["start"], s["end"]) for s in timeline["speaking"]]
    assert len(spans) == 2 and all(s["account"] == "alice" for s in timeline["speaking"])
    assert spans[0][0] == pytest.approx(0.0, abs=0.2) and spans[0][1] == pytest.approx(2.0, abs=0.2)
    assert spans[1][0] == pytest.approx(4.0, abs=0.2) and spans[1][1] == pytest.approx(6.0, abs=0.3)
    assert timeline["thumbnails"]["times"] == pytest.approx([1.0, 3.0, 5.0], abs=0.1)
    # the page shows them, with a seek button per thumbnail
    client.post("/recordings/room1/", {"token": token_mint(account="alice", channel="room1")})
    page = client.get(f"/recordings/room1/{recording.pk}/").content.decode()
    assert 'id="recording-poster"' in page and 'id="recording-waveform"' in page
    assert page.count('class="seek thumbnail"') == 3
    listing = client.get("/recordings/room1/").content.decode()
    assert 'class="library-preview"' in listing


@pytest.mark.django_db
def test_an_audio_mix_gets_a_waveform_and_no_poster(client: Client, tmp_path: Path) -> None:
    clip = write_test_media(tmp_path / "m.webm", seconds=3.0, video=False, silent=((1.0, 2.0),))
    recording = _upload(client, clip.read_bytes(), filetype="audio/webm", kind="mix")
    data = client.get(f"/api/recordings/{recording.pk}", headers=AUTH).json()
    assert data["posterUrl"] is None and data["thumbnailsUrl"] is None
    heights = _bar_heights(_png(client, data["waveformUrl"]))
    third = len(heights) // 3
    assert heights[20 : third - 20].min() > 5 * max(1, heights[third + 20 : 2 * third - 20].max())
    # a forged or expired link opens nothing
    assert client.get(data["timelineUrl"] + "x").status_code == 403


@pytest.mark.django_db
def test_a_failed_recording_has_no_previews(client: Client) -> None:
    recording = _upload(client, b"not media at all" * 100, filetype="video/webm")
    assert recording.status == Recording.Status.FAILED
    assert not recording.poster_file and not recording.levels_file


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_room_events_place_joins_leaves_and_mutes_on_the_timeline() -> None:
    channel = "timeline-room"
    start = timezone.now()
    alice = await joined("alice", channel)
    bob = await joined("bob", channel)
    joined_at = (timezone.now() - start).total_seconds()
    assert (await bob.request("media", audio=False, video=True))["type"] == "ack"
    muted_at = (timezone.now() - start).total_seconds()
    await bob.close()
    await alice.expect("member.left")
    left_at = (timezone.now() - start).total_seconds()
    await alice.close()

    def timeline() -> dict:
        recording = Recording.objects.create(
            channel=channel, account="alice", recorder="alice", kind="participant", status="ready",
            duration=30.0, started_at=start, file="recordings/x/original-x.webm",
        )  # fmt: skip
        return recording_timeline(recording, media={})

    data = await sync_to_async(timeline)()
    events = [(e["account"], e["kind"]) for e in data["events"]]
    assert events == [("alice", "join"), ("bob", "join"), ("bob", "mute"), ("bob", "leave"), ("alice", "leave")]
    times = {(e["account"], e["kind"]): e["t"] for e in data["events"]}
    assert times[("bob", "join")] == pytest.approx(joined_at, abs=1.0)
    assert times[("bob", "mute")] == pytest.approx(muted_at, abs=1.0)
    assert times[("bob", "leave")] == pytest.approx(left_at, abs=1.0)
    assert await sync_to_async(RoomEvent.objects.filter(channel=channel).count)() == 5
    assert json.loads(json.dumps(data)) == data  # what the timeline link serves
