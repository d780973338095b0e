import json

import pytest
from django.core.management import call_command
from django.test import Client

from recording.tokens import token_mint, token_verify

pytestmark = pytest.mark.django_db


def test_management_command_prints_token_on_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("netcall_token", "--account", "alice", "--channel", "demo", "--ttl", "120")
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    parsed = token_verify(last_line)
    assert (parsed.account, parsed.channel) == ("alice", "demo")
    assert parsed.grants == frozenset({"publish"})  # record, upload and live are asked for explicitly


def test_api_mints_tokens_with_the_api_key(client: Client, settings) -> None:
    settings.NETCALL_API_KEY = "k" * 32
    response = client.post(
        "/api/tokens",
        data=json.dumps({"account": "bob", "channel": "demo", "ttl": 60, "grants": ["publish"]}),
        content_type="application/json",
        headers={"Authorization": "Bearer " + "k" * 32},
    )
    assert response.status_code == 201
    body = response.json()
    parsed = token_verify(body["token"])
    assert (parsed.account, parsed.channel, parsed.grants) == ("bob", "demo", frozenset({"publish"}))
    assert body["expiresAt"] == parsed.expires_at


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic " + "k" * 32])
def test_api_refuses_without_the_right_key(client: Client, settings, header: str | None) -> None:
    settings.NETCALL_API_KEY = "k" * 32
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/tokens", data="{}", content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_api_is_closed_when_no_key_is_configured(client: Client, settings) -> None:
    settings.NETCALL_API_KEY = ""
    response = client.post(
        "/api/tokens", data="{}", content_type="application/json", headers={"Authorization": "Bearer "}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps([1]),
        json.dumps({"account": "a/b", "channel": "c"}),
        json.dumps({"account": "a", "channel": "c", "ttl": -1}),
        json.dumps({"account": "a", "channel": "c", "grants": ["root"]}),
    ],
)
def test_api_rejects_bad_requests(client: Client, settings, body: str) -> None:
    settings.NETCALL_API_KEY = "key"
    response = client.post(
        "/api/tokens", data=body, content_type="application/json", headers={"Authorization": "Bearer key"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_room_page_mints_guest_tokens_in_guest_mode(client: Client, settings) -> None:
    settings.NETCALL_GUEST_MODE = True
    response = client.get("/room/demo/?account=alice")
    assert response.status_code == 200
    config = response.context["config"]
    assert token_verify(config["token"]).account == "alice"


def test_room_page_requires_a_token_without_guest_mode(client: Client, settings) -> None:
    settings.NETCALL_GUEST_MODE = False
    asking = client.get("/room/demo/?account=alice")
    assert asking.status_code == 200 and b'id="token-form"' in asking.content and "config" not in asking.context
    token = token_mint(account="carol", channel="demo")
    assert client.get(f"/room/demo/?token={token}").status_code == 400  # never in a URL
    response = client.post("/room/demo/?type=audio", {"token": token}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [("/room/demo/?type=audio", 302)]
    assert response.context["config"]["account"] == "carol"
    assert response.context["config"]["type"] == "audio"
    assert client.post("/room/other/", {"token": token}).status_code == 403


def test_lobby_renders_a_labelled_form(client: Client, settings) -> None:
    settings.NETCALL_GUEST_MODE = True
    response = client.get("/")
    assert response.status_code == 200
    assert b'<label for="account"' in response.content
    assert b'<label for="channel"' in response.content


def test_lobby_form_without_javascript_forwards_to_the_room(client: Client) -> None:
    response = client.get("/?account=alice&channel=demo&type=audio")
    assert response.status_code == 302
    assert response["Location"] == "/room/demo/?account=alice&type=audio"


def test_room_page_passes_the_lobby_live_choice_to_the_sdk(client: Client, settings) -> None:
    settings.NETCALL_GUEST_MODE = True
    host = client.get("/room/demo/?account=alice&live=host&rtmpUrl=rtmp://127.0.0.1/live/x&rtmpRecord=1")
    assert host.context["config"]["live"] == {
        "liveEnable": True,
        "sessionConfig": {"rtmpUrl": "rtmp://127.0.0.1/live/x", "rtmpRecord": True},
    }
    cohost = client.get("/room/demo/?account=bob&live=cohost&rtmpUrl=ignored")
    assert cohost.context["config"]["live"] == {"liveEnable": True, "sessionConfig": {"rtmpRecord": False}}
    assert client.get("/room/demo/?account=carol&live=bogus").context["config"]["live"] is None
