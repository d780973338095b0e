"""Consent to being recorded, on the wire and in the library: a member that joined with recordConsent 'ask'
is asked (record.request), the recording waits for the answer, a refusal refuses it, the answers are kept
and travel with the upload, and an upload without the needed consent is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from recording.jobs.queue import jobs_run_pending
from recording.models import RecordConsent, Recording, RecordNotice
from recording.tokens import token_mint
from tests.support.mediafiles import write_test_media
from tests.support.signalling import Client as WsClient
from tests.support.tus_client import bearer, create, meta, patch, use_upload_dirs

pytestmark = [pytest.mark.django_db(transaction=True)]

API_KEY = "c" * 32


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path: Path) -> None:
    use_upload_dirs(settings, tmp_path)
    settings.NETCALL_API_KEY = API_KEY


async def _join(account: str, channel: str, **fields: Any) -> WsClient:
    client = await WsClient.connect()
    token = token_mint(account=account, channel=channel, grants=("publish", "record", "upload"))
    reply = await client.request("join", token=token, channel=channel, media={"audio": True, "video": True}, **fields)
    assert reply["type"] == "ack", reply
    return client


@pytest.mark.asyncio
async def test_recording_an_asking_member_waits_for_its_answer_and_a_refusal_refuses() -> None:
    alice = await _join("alice", "consent-1")
    bob = await _join("bob", "consent-1", recordConsent="ask")
    # the pending start: nothing is recorded yet, bob is asked
    reply = await alice.request("record.start", target="bob", kind="mp4")
    assert reply["type"] == "ack" and reply["data"]["record"] is None, reply
    [pending] = reply["data"]["consent"]
    assert pending["state"] == "pending" and pending["target"] == "bob"
    asked = await bob.expect("record.request")
    assert (asked["request"], asked["recorder"], asked["kind"]) == (pending["id"], "alice", "mp4")
    assert not await sync_to_async(RecordNotice.objects.filter(target="bob").exists)()
    # refuse: alice is told, nothing starts, and an upload of bob's recording is refused
    answer = await bob.request("record.respond", request=asked["request"], accept=False)
    assert answer["data"]["consent"]["state"] == "refused"
    told = await alice.expect("record.consent")
    assert (told["request"], told["state"], told["record"]) == (pending["id"], "refused", None)
    assert not await sync_to_async(RecordNotice.objects.filter(target="bob").exists)()
    # an answer cannot be changed afterwards, nor given by someone else
    again = await bob.request("record.respond", request=asked["request"], accept=True)
    assert again["type"] == "error" and again["code"] == "no_such_request"
    # ask again; this time bob accepts: the recording starts, everyone (bob too) hears it
    reply = await alice.request("record.start", target="bob", kind="mp4")
    asked = await bob.expect("record.request")
    forged = await alice.request("record.respond", request=asked["request"], accept=True)
    assert forged["type"] == "error" and forged["code"] == "no_such_request"
    answer = await bob.request("record.respond", request=asked["request"], accept=True)
    assert answer["data"]["record"]["recorder"] == "alice"  # bob also got record.state `started` first
    told = await alice.expect("record.consent")
    assert told["state"] == "accepted" and told["record"]["target"] == "bob"
    consents = await sync_to_async(lambda: list(RecordConsent.objects.order_by("asked_at").values_list("state")))()
    assert consents == [("refused",), ("accepted",)]
    await alice.close()
    await bob.close()


@pytest.mark.asyncio
async def test_a_member_that_allows_is_recorded_at_once_and_the_channel_setting_makes_ask_the_default(
    settings,
) -> None:
    alice = await _join("alice", "consent-2")
    carol = await _join("carol", "consent-2")
    reply = await alice.request("record.start", target="carol", kind="mp4")
    assert reply["data"]["record"]["target"] == "carol" and reply["data"]["consent"] == []
    settings.NETCALL_RECORD_CONSENT_CHANNELS = ["consent-3"]
    dave = await _join("dave", "consent-3")
    erin = await _join("erin", "consent-3")
    joined = await dave.request("record.start", kind="aac")  # the mix starts; erin is asked
    assert joined["data"]["record"]["kind"] == "aac"
    [question] = joined["data"]["consent"]
    assert question["target"] == "erin"
    assert (await erin.expect("record.request"))["kind"] == "aac"
    # someone to be asked who joins while the mix runs is asked too, and the mix's recorder hears of it
    frank = await _join("frank", "consent-3")
    assert (await frank.expect("record.request"))["recorder"] == "dave"
    pending = await dave.expect("record.consent")
    assert (pending["target"], pending["kind"], pending["state"]) == ("frank", "aac", "pending")
    for client in (alice, carol, dave, erin, frank):
        await client.close()


def _upload_as(client: Client, account: str, channel: str, data: bytes, **metadata: str) -> Any:
    location = create(
        client, length=len(data), metadata=meta(**metadata), headers=bearer(account=account, channel=channel)
    )
    return location


@pytest.mark.asyncio
async def test_the_upload_carries_the_consent_and_one_without_it_is_refused(tmp_path: Path) -> None:
    data = write_test_media(tmp_path / "bob.webm", seconds=1.0).read_bytes()
    alice = await _join("alice", "consent-4")
    bob = await _join("bob", "consent-4", recordConsent="ask")
    await alice.request("record.start", target="bob", kind="mp4")
    asked = await bob.expect("record.request")
    await bob.request("record.respond", request=asked["request"], accept=False)
    await alice.expect("record.consent")

    def refused_upload() -> Any:
        return Client().post(
            "/api/uploads/",
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Length": str(len(data)),
                "Upload-Metadata": meta(filetype="video/webm", target="bob"),
                **bearer(account="alice", channel="consent-4"),
            },
        )

    # bob refused (and alice's earlier announcement of bob, if any, does not stand in for consent)
    response = await sync_to_async(refused_upload)()
    assert response.status_code == 403 and b"consent_missing" in response.content, response.content
    await alice.request("record.start", target="bob", kind="mp4")
    asked = await bob.expect("record.request")
    await bob.request("record.respond", request=asked["request"], accept=True)
    await alice.expect("record.consent")

    def accepted_upload() -> dict[str, Any]:
        client = Client()
        location = _upload_as(client, "alice", "consent-4", data, filetype="video/webm", target="bob")
        assert patch(client, location, 0, data, headers=bearer(account="alice", channel="consent-4")).status_code == 204
        jobs_run_pending()
        recording = Recording.objects.get()
        return client.get(f"/api/recordings/{recording.pk}", headers={"Authorization": f"Bearer {API_KEY}"}).json()

    data_api = await sync_to_async(accepted_upload)()
    [stored] = data_api["consents"]
    assert (stored["target"], stored["recorder"], stored["state"]) == ("bob", "alice", "accepted")
    assert stored["askedAt"] and stored["answeredAt"] >= stored["askedAt"]
    await alice.close()
    await bob.close()
