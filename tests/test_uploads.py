"""The tus endpoint at /api/uploads/: protocol, errors, bad input, concurrency, finishing."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import av
import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recording.jobs.queue import jobs_run_pending
from recording.library import services as library
from recording.library.storage import recording_storage, staging_path
from recording.models import Job, Recording, RoomEvent, Upload
from recording.tokens import token_mint
from recording.uploads.services import upload_append, upload_create, upload_get
from recording.uploads.tus import TusError
from recording.uploads.upkeep import uploads_sweep
from tests.support.mediafiles import write_test_media
from tests.support.tus_client import OCTETS, TUS, bearer, body_of, create, meta, patch, use_upload_dirs

pytestmark = pytest.mark.django_db
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _upload_dirs(settings, tmp_path: Path) -> None:
    use_upload_dirs(settings, tmp_path)
    settings.NETCALL_UPLOAD_MAX_SIZE = 1024 * 1024


@pytest.fixture
def webm(tmp_path: Path) -> bytes:
    return write_test_media(tmp_path / "clip.webm", seconds=2.0).read_bytes()


def test_options_advertises_the_protocol(client: Client) -> None:
    response = client.options("/api/uploads/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) >= {
        "creation",
        "creation-defer-length",
        "termination",
        "checksum",
        "expiration",
    }
    assert "sha1" in response["Tus-Checksum-Algorithm"].split(",")
    assert response["Tus-Max-Size"] == str(1024 * 1024)


def test_whole_upload_in_chunks_becomes_a_ready_recording(client: Client, webm: bytes) -> None:
    location = create(
        client, length=len(webm), metadata=meta(filename="me.webm", filetype="video/webm;codecs=vp8,opus")
    )
    head = client.head(location, headers={**TUS, **bearer()})
    assert head.status_code == 200
    assert (head["Upload-Offset"], head["Upload-Length"], head["Cache-Control"]) == ("0", str(len(webm)), "no-store")
    assert "Upload-Expires" in head
    offset = 0
    for start in range(0, len(webm), 5000):
        chunk = webm[start : start + 5000]
        checksum = "sha1 " + base64.b64encode(hashlib.sha1(chunk).digest()).decode()
        response = patch(client, location, offset, chunk, **{"Upload-Checksum": checksum})
        assert response.status_code == 204, response.content
        offset = int(response["Upload-Offset"])
    assert offset == len(webm)
    assert response["Netcall-Recording-Sha256"] == hashlib.sha256(webm).hexdigest()
    recording = Recording.objects.get(pk=response["Netcall-Recording-Id"])
    assert recording.status == Recording.Status.FINISHING
    assert (recording.account, recording.recorder, recording.channel) == ("alice", "alice", "room1")
    assert recording.client_filename == "me.webm"
    assert not staging_path(Upload.objects.get().id).exists()
    jobs_run_pending()
    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY
    assert (recording.container, recording.video_codec, recording.audio_codec) == ("webm", "vp8", "opus")
    assert recording.duration == pytest.approx(2.0, abs=0.2)
    # the original is byte-identical; the server named it, not the client
    with recording_storage().open(recording.file.name, "rb") as stored:
        assert stored.read() == webm
    assert "me.webm" not in recording.file.name
    with av.open(recording_storage().path(recording.seekable_file.name)) as seekable:
        assert seekable.duration is not None and seekable.duration / av.time_base == pytest.approx(2.0, abs=0.2)


def test_deferred_length_is_declared_in_the_last_patch(client: Client, webm: bytes) -> None:
    location = create(client, length=None, metadata=meta(kind="participant", filetype="video/webm"))
    head = client.head(location, headers={**TUS, **bearer()})
    assert head["Upload-Defer-Length"] == "1"
    assert Recording.objects.get().status == Recording.Status.RECORDING
    assert patch(client, location, 0, webm[:1000]).status_code == 204
    response = patch(client, location, 1000, webm[1000:], **{"Upload-Length": str(len(webm))})
    assert response.status_code == 204
    assert response["Upload-Length"] == str(len(webm))
    assert response["Netcall-Recording-Url"].startswith("http://testserver/recordings/file/")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 412),  # no Tus-Resumable
        ({"Tus-Resumable": "0.2.2"}, 412),
    ],
)
def test_version_is_checked(client: Client, headers: dict[str, str], status: int) -> None:
    response = client.post("/api/uploads/", headers={**headers, **bearer(), "Upload-Length": "10"})
    assert response.status_code == status
    assert response["Tus-Version"] == "1.0.0"


def test_protocol_errors_return_their_status(client: Client, webm: bytes) -> None:
    location = create(client, length=100)
    # 415 wrong content type
    response = client.generic(
        "PATCH", location, data=b"x", content_type="text/plain", headers={**TUS, **bearer(), "Upload-Offset": "0"}
    )
    assert response.status_code == 415
    # 409 stale offset
    assert patch(client, location, 0, b"a" * 10).status_code == 204
    assert patch(client, location, 0, b"b" * 10).status_code == 409
    # 460 bad checksum: nothing of the chunk is kept
    bad = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    assert patch(client, location, 10, b"c" * 10, **{"Upload-Checksum": bad}).status_code == 460
    assert client.head(location, headers={**TUS, **bearer()})["Upload-Offset"] == "10"
    # 400 unsupported checksum algorithm
    assert patch(client, location, 10, b"c", **{"Upload-Checksum": "crc32 AAAA"}).status_code == 400
    # 413 past the upload's length
    assert patch(client, location, 10, b"d" * 91).status_code == 413
    # 400 missing offset
    response = client.generic("PATCH", location, data=b"x", content_type=OCTETS, headers={**TUS, **bearer()})
    assert response.status_code == 400
    # termination, then 404
    assert client.delete(location, headers={**TUS, **bearer()}).status_code == 204
    assert client.head(location, headers={**TUS, **bearer()}).status_code == 404
    assert client.head("/api/uploads/not-a-uuid", headers={**TUS, **bearer()}).status_code == 404


def test_size_over_the_limit_is_refused(client: Client) -> None:
    response = client.post("/api/uploads/", headers={**TUS, **bearer(), "Upload-Length": str(1024 * 1024 + 1)})
    assert response.status_code == 413
    location = create(client, length=None)
    response = patch(client, location, 0, b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert Upload.objects.get().offset == 0


def test_expired_upload_is_gone(client: Client, settings) -> None:
    location = create(client, length=100)
    Upload.objects.update(expires_at="2000-01-01T00:00:00Z", updated_at="2000-01-01T00:00:00Z")
    uploads_sweep()
    assert client.head(location, headers={**TUS, **bearer()}).status_code == 410
    assert patch(client, location, 0, b"x").status_code == 410


@pytest.mark.parametrize("filename", ["../../etc/passwd", "a/b.webm", "a\\b.webm", "bad\x00.webm", "..", "x/../y.webm"])
def test_path_like_file_names_are_refused_not_cleaned(client: Client, filename: str) -> None:
    response = client.post(
        "/api/uploads/", headers={**TUS, **bearer(), "Upload-Length": "10", "Upload-Metadata": meta(filename=filename)}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_filename"
    assert not Upload.objects.exists()


def test_malformed_metadata_is_refused(client: Client) -> None:
    for value in ["filename !!!notbase64", "a 1 2", "dup YQ==,dup Yg=="]:
        response = client.post(
            "/api/uploads/", headers={**TUS, **bearer(), "Upload-Length": "10", "Upload-Metadata": value}
        )
        assert response.status_code == 400, value


def test_tokens_and_grants(client: Client) -> None:
    def post(headers: dict[str, str]) -> int:
        return client.post("/api/uploads/", headers={**TUS, **headers, "Upload-Length": "10"}).status_code

    assert post({}) == 401
    assert post({"Authorization": "Bearer forged"}) == 401
    assert post(bearer(grants=("publish", "record"))) == 403
    location = create(client, length=10)
    # another account, or the same account in another channel, cannot touch it
    assert client.head(location, headers={**TUS, **bearer(account="mallory")}).status_code == 403
    assert patch(client, location, 0, b"x", headers=bearer(channel="room2")).status_code == 403
    assert client.delete(location, headers={**TUS, **bearer(account="mallory")}).status_code == 403


def test_text_disguised_as_webm_is_rejected_and_removed(client: Client) -> None:
    body = b"this is not a video, just text\n" * 40
    location = create(client, length=len(body), metadata=meta(filename="clip.webm", filetype="video/webm"))
    assert patch(client, location, 0, body).status_code == 204
    recording = Recording.objects.get()
    name = recording.file.name
    assert recording_storage().exists(name)
    jobs_run_pending()
    recording.refresh_from_db()
    assert recording.status == Recording.Status.FAILED
    assert "not an audio or video file" in recording.failure_reason
    assert not recording.file
    assert not recording_storage().exists(name)


def test_mp4_claimed_but_webm_sent_is_rejected(client: Client, webm: bytes) -> None:
    location = create(client, length=len(webm), metadata=meta(filetype="video/mp4"))
    patch(client, location, 0, webm)
    jobs_run_pending()
    recording = Recording.objects.get()
    assert recording.status == Recording.Status.FAILED
    assert "claimed to be video/mp4" in recording.failure_reason


def test_cors_only_for_allowed_origins(client: Client, settings) -> None:
    settings.NETCALL_UPLOAD_CORS_ORIGINS = ["https://app.example"]
    allowed = client.options("/api/uploads/", headers={"Origin": "https://app.example"})
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Upload-Offset" in allowed["Access-Control-Expose-Headers"]
    assert "Location" in allowed["Access-Control-Expose-Headers"]
    assert "Tus-Resumable" in allowed["Access-Control-Allow-Headers"]
    other = client.options("/api/uploads/", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other


def test_idle_upload_becomes_a_partial_recording_and_can_still_finish(client: Client, tmp_path: Path) -> None:
    data = write_test_media(tmp_path / "long.webm", seconds=4.0).read_bytes()
    location = create(client, length=None, metadata=meta(filetype="video/webm"))
    cut = int(len(data) * 0.7)
    assert patch(client, location, 0, data[:cut]).status_code == 204
    Upload.objects.update(updated_at="2000-01-01T00:00:00Z")
    assert uploads_sweep()["partial"] == 1
    jobs_run_pending()
    recording = Recording.objects.get()
    assert recording.status == Recording.Status.PARTIAL
    assert recording.duration is not None and recording.duration >= 2.0
    assert recording.sha256 == hashlib.sha256(data[:cut]).hexdigest()
    # the client comes back: the same recording becomes whole
    response = patch(client, location, cut, data[cut:], **{"Upload-Length": str(len(data))})
    assert response.status_code == 204
    jobs_run_pending()
    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY
    assert recording.sha256 == hashlib.sha256(data).hexdigest()
    assert Recording.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_never_interleave(webm: bytes) -> None:
    """Many writers race for offset 0 of one upload: exactly one wins, the others get 409 or 423."""
    upload = upload_create(account="alice", channel="room1", length=len(webm), metadata={})
    start = threading.Barrier(4)
    losers_done = threading.Event()
    results: list[object] = []

    class HeldBody:
        """The winner's body stays open until every other writer has been answered."""

        def __init__(self, data: bytes) -> None:
            self.data = data
            self.pos = 0

        def read(self, size: int = -1) -> bytes:
            if self.pos == 0:
                losers_done.wait(timeout=20)
            chunk = self.data[self.pos : self.pos + 512]
            self.pos += len(chunk)
            return chunk

    def writer(fill: bytes) -> None:
        start.wait(timeout=10)
        try:
            body = fill * 2000
            result = upload_append(
                upload=upload_get(upload.id), offset=0, stream=HeldBody(body), content_length=len(body)
            )
            results.append(result.written)
        except Exception as exc:
            results.append(getattr(exc, "status", exc))
            if len(results) == 3:
                losers_done.set()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(bytes([65 + i]),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [r for r in results if r == 2000]
    assert len(winners) == 1, results
    assert all(r in (409, 423) for r in results if r != 2000), results
    upload.refresh_from_db()
    content = staging_path(upload.id).read_bytes()
    assert upload.offset == 2000 and len(content) == 2000
    assert len(set(content)) == 1  # one writer's bytes, never a mix


def _statements(run: Callable[[], T]) -> tuple[T, list[str]]:
    """What `run()` returned and the kind of each SQL statement it ran (`SELECT FROM <table>`, `UPDATE <table>`)."""
    with CaptureQueriesContext(connection) as queries:
        result = run()
    kinds = []
    for query in queries:
        sql = query["sql"]
        verb = sql.split(" ", 1)[0]
        table = sql.split(" FROM ", 1)[1] if verb == "SELECT" else sql.split(" ", 2)[1]
        kinds.append(f"{verb} {table.split(' ', 1)[0].strip(chr(34))}")
    return result, kinds


def test_a_patch_runs_four_statements_and_reads_nothing_twice(client: Client) -> None:
    """A PATCH to an upload whose length was declared at creation: the token's revocation, the upload with
    its recording (one join: ownership, offset, length), the lease, the release. The row is not read again
    after the release (the view wrote it) and the channel quota was counted at creation."""
    location = create(client, length=3000, metadata=meta(filetype="video/webm"))
    response, kinds = _statements(lambda: patch(client, location, 0, b"x" * 1000))
    assert response.status_code == 204, response.content
    assert (response["Upload-Offset"], response["Netcall-Recording-Status"]) == ("1000", "uploading")
    upload = Upload.objects.get()
    assert (upload.offset, upload.lock_token, upload.locked_until) == (1000, "", None)
    assert kinds == [
        "SELECT recording_revokedtoken",
        "SELECT recording_upload",  # LEFT OUTER JOIN recording_recording
        "UPDATE recording_upload",  # the lease (state open, at this offset, this length)
        "UPDATE recording_upload",  # the release: offset, expiry
    ]
    head, kinds = _statements(lambda: client.head(location, headers={**TUS, **bearer()}))
    assert head["Upload-Offset"] == "1000" and head["Netcall-Recording-Id"] == str(upload.recording_id)
    assert kinds == ["SELECT recording_revokedtoken", "SELECT recording_upload"]


def test_a_patch_of_deferred_length_also_counts_the_channel_quota(client: Client) -> None:
    """An upload created without a length was not counted at creation: each PATCH checks the channel's
    quota (two statements more), and the one that declares the length moves the recording on."""
    location = create(client, length=None, metadata=meta(filetype="video/webm"))
    response, kinds = _statements(lambda: patch(client, location, 0, b"x" * 1000))
    assert response.status_code == 204
    assert response["Netcall-Recording-Status"] == "recording"
    assert kinds == [
        "SELECT recording_revokedtoken",
        "SELECT recording_upload",
        "SELECT recording_recording",  # the channel's kept bytes
        "SELECT recording_upload",  # its other open uploads
        "UPDATE recording_upload",
        "UPDATE recording_upload",
    ]
    response, kinds = _statements(lambda: patch(client, location, 1000, b"x" * 1000, **{"Upload-Length": "3000"}))
    assert response.status_code == 204
    assert (response["Upload-Length"], response["Netcall-Recording-Status"]) == ("3000", "uploading")
    assert kinds[-1] == "UPDATE recording_recording" and len(kinds) == 7
    assert Recording.objects.get().status == Recording.Status.UPLOADING


def test_a_length_declared_between_the_read_and_the_lease_is_not_overwritten() -> None:
    """The row a PATCH checked is leased only if it still has that length: a length another request declared
    meanwhile (here an empty PATCH) wins, and the late PATCH gets 409 `length_changed`."""
    upload = upload_create(account="alice", channel="room1", length=None, metadata={})
    stale = upload_get(upload.id)
    declared = upload_append(
        upload=upload_get(upload.id), offset=0, stream=io.BytesIO(), content_length=0, declared_length=10
    )
    assert declared.upload.length == 10
    with pytest.raises(TusError) as refused:
        upload_append(upload=stale, offset=0, stream=io.BytesIO(b"x" * 20), content_length=20, declared_length=20)
    assert (refused.value.status, refused.value.code) == (409, "length_changed")
    upload.refresh_from_db()
    assert (upload.length, upload.offset, upload.lock_token) == (10, 0, "")
    assert staging_path(upload.id).read_bytes() == b""


def test_download_links_are_signed_ranged_and_expire(client: Client, webm: bytes) -> None:
    location = create(client, length=len(webm), metadata=meta(filename="x.webm", filetype="video/webm"))
    response = patch(client, location, 0, webm)
    url = response["Netcall-Recording-Url"].removeprefix("http://testserver")
    jobs_run_pending()
    full = client.get(url)
    assert full.status_code == 200
    assert body_of(full) == webm
    assert full["X-Content-Type-Options"] == "nosniff"
    assert full["Content-Disposition"].startswith("attachment")
    assert full["Accept-Ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 10-19/{len(webm)}"
    assert body_of(part) == webm[10:20]
    assert client.get(url, headers={"Range": f"bytes={len(webm)}-"}).status_code == 416
    assert client.get(url[:-3] + "abc").status_code == 403
    recording = Recording.objects.get()
    expired = library.storage.download_url(recording.pk, ttl=-1)
    assert client.get(expired).status_code == 403


def test_jobs_survive_a_crashed_worker(client: Client, webm: bytes) -> None:
    """A job left `running` by a dead worker is taken again once its lock expires."""
    location = create(client, length=len(webm), metadata=meta(filetype="video/webm"))
    patch(client, location, 0, webm)
    Job.objects.update(state=Job.State.RUNNING, locked_until="2000-01-01T00:00:00Z", attempts=1)
    jobs_run_pending()
    assert Recording.objects.get().status == Recording.Status.READY
    assert Job.objects.get(kind="recording.finish").state == Job.State.DONE


def test_retention_deletes_old_recordings_and_logs_it(client: Client, webm: bytes, caplog) -> None:
    from django.core.management import call_command

    location = create(client, length=len(webm), metadata=meta(filetype="video/webm"))
    patch(client, location, 0, webm)
    jobs_run_pending()
    recording = Recording.objects.get()
    name, poster = recording.file.name, recording.poster_file.name
    assert poster  # the previews job ran too
    RoomEvent.objects.create(channel="room1", account="bob", kind="join", at="2000-01-01T00:00:00Z")
    RoomEvent.objects.create(channel="room1", account="bob", kind="leave", at=timezone.now())
    call_command("netcall_retention", "--days", "30")
    assert Recording.objects.count() == 1  # new: kept
    assert list(RoomEvent.objects.values_list("kind", flat=True)) == ["leave"]  # the old event went
    Recording.objects.update(created_at="2000-01-01T00:00:00Z")
    with caplog.at_level("INFO", logger="recording.library.services"):
        call_command("netcall_retention", "--days", "30")
    assert not Recording.objects.exists()
    assert not recording_storage().exists(name) and not recording_storage().exists(poster)
    assert any("deleted by retention" in r.getMessage() for r in caplog.records)


def test_backend_api_lists_links_and_deletes(client: Client, webm: bytes, settings) -> None:
    settings.NETCALL_API_KEY = "k" * 32
    auth = {"Authorization": "Bearer " + "k" * 32}
    location = create(client, length=len(webm), metadata=meta(filetype="video/webm"))
    patch(client, location, 0, webm)
    jobs_run_pending()
    assert client.get("/api/recordings").status_code == 401
    listed = client.get("/api/recordings?channel=room1", headers=auth).json()["recordings"]
    assert [r["status"] for r in listed] == ["ready"]
    recording_id = listed[0]["id"]
    link = client.post(
        f"/api/recordings/{recording_id}/links",
        data='{"ttl": 60, "role": "seekable"}',
        content_type="application/json",
        headers=auth,
    )
    assert link.status_code == 201
    assert client.get(link.json()["url"].removeprefix("http://testserver")).status_code == 200
    assert client.delete(f"/api/recordings/{recording_id}", headers=auth).status_code == 204
    assert client.get(f"/api/recordings/{recording_id}", headers=auth).status_code == 404


def test_library_pages_follow_the_token(client: Client, webm: bytes) -> None:
    location = create(client, length=len(webm), metadata=meta(filetype="video/webm"))
    patch(client, location, 0, webm)
    jobs_run_pending()
    recording = Recording.objects.get()
    assert client.get("/recordings/room1/").status_code == 403
    other = token_mint(account="bob", channel="room2")
    assert client.post("/recordings/room1/", {"token": other}).status_code == 403  # another channel
    token = token_mint(account="bob", channel="room1")
    assert client.get(f"/recordings/room1/?token={token}").status_code == 400  # never in a URL
    page = client.post("/recordings/room1/", {"token": token}, follow=True)
    assert page.status_code == 200
    assert str(recording.pk) in page.content.decode()
    detail = client.get(f"/recordings/room1/{recording.pk}/")
    assert b'id="player"' in detail.content
    assert b"Delete this recording" not in detail.content  # bob did not record it
    assert client.post(f"/recordings/room1/{recording.pk}/delete").status_code == 403
    alice = Client()
    alice.post("/recordings/room1/", {"token": token_mint(account="alice", channel="room1")})
    assert alice.post(f"/recordings/room1/{recording.pk}/delete").status_code == 302
    assert not Recording.objects.exists()


@pytest.mark.parametrize(("kind", "codecs"), [("participant", ("h264", "aac")), ("mix", ("", "aac"))])
def test_transcode_on_request_keeps_the_original(client: Client, webm: bytes, kind: str, codecs) -> None:
    location = create(client, length=len(webm), metadata=meta(filetype="video/webm", kind=kind, transcode="1"))
    patch(client, location, 0, webm)
    jobs_run_pending()
    recording = Recording.objects.get()
    assert recording.transcoded_file.name.endswith(".mp4" if kind == "participant" else ".m4a")
    with av.open(recording_storage().path(recording.transcoded_file.name)) as container:
        video = container.streams.video[0].codec_context.name if container.streams.video else ""
        assert (video, container.streams.audio[0].codec_context.name) == codecs
    with recording_storage().open(recording.file.name, "rb") as original:
        assert original.read() == webm
