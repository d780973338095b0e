"""The embed page's headers (who may frame it, what it may use) and clickjacking protection elsewhere."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from recording.web.security_headers import embed_content_security_policy, origin_problem

pytestmark = pytest.mark.django_db

ORIGINS = ["https://app.example.com", "http://127.0.0.1:8001"]


def csp_directives(header: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_embed_page_may_be_framed_by_the_configured_origins_only(client: Client, settings) -> None:
    settings.NETCALL_EMBED_ORIGINS = ORIGINS
    response = client.get("/embed/")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    csp = csp_directives(response["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'self'", *ORIGINS]


def test_embed_page_csp_is_strict(client: Client, settings) -> None:
    settings.NETCALL_EMBED_ORIGINS = ORIGINS
    csp = csp_directives(client.get("/embed/")["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"]  # no inline scripts, no eval
    assert csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["connect-src"] == ["'self'"]


def test_embed_page_without_origins_is_framable_by_this_site_only(client: Client, settings) -> None:
    settings.NETCALL_EMBED_ORIGINS = []
    csp = csp_directives(client.get("/embed/")["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'self'"]


def test_embed_page_permissions_policy(client: Client, settings) -> None:
    settings.NETCALL_EMBED_ORIGINS = ORIGINS
    header = client.get("/embed/")["Permissions-Policy"]
    policy = dict(item.strip().split("=", 1) for item in header.split(","))
    for feature in ("camera", "microphone", "display-capture", "autoplay", "fullscreen"):
        assert policy[feature] == "(self)", header
    assert policy["geolocation"] == "()"
    assert policy["payment"] == "()"


def test_embed_page_tells_the_frame_the_allowed_origins(client: Client, settings) -> None:
    settings.NETCALL_EMBED_ORIGINS = ORIGINS
    response = client.get("/embed/")
    assert response.context["config"] == {"embedOrigins": ORIGINS}
    html = response.content.decode()
    assert 'id="netcall-embed-config"' in html
    assert "/static/demo/embed-frame.js" in html
    # nothing the CSP would refuse: the only scripts are the JSON config and external modules
    assert "<script>" not in html
    assert "style=" not in html


@pytest.mark.parametrize(
    "path",
    ["/", "/room/demo/?account=alice", "/recordings/demo/"],
)
def test_other_pages_keep_clickjacking_protection(client: Client, settings, path: str) -> None:
    settings.NETCALL_EMBED_ORIGINS = ORIGINS
    settings.NETCALL_GUEST_MODE = True
    response = client.get(path)
    assert response["X-Frame-Options"] == "DENY"
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "Permissions-Policy" not in response


def test_api_responses_cannot_be_framed_either(client: Client, settings) -> None:
    settings.NETCALL_API_KEY = "key"
    response = client.post(
        "/api/tokens",
        data=json.dumps({"account": "a", "channel": "c"}),
        content_type="application/json",
        headers={"Authorization": "Bearer key"},
    )
    assert response.status_code == 201
    assert response["X-Frame-Options"] == "DENY"


def test_helper_script_is_served_with_cors(client: Client) -> None:
    response = client.get("/embed/embed.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert b"export class NetcallEmbed" in response.content
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("origin", "ok"),
    [
        ("https://app.example.com", True),
        ("http://127.0.0.1:8001", True),
        ("http://[::1]:8001", True),
        ("https://app.example.com/", False),  # trailing slash: event.origin never has one
        ("https://app.example.com/path", False),
        ("https://App.example.com", False),  # browsers serialise in lower case
        ("https://app.example.com:443", False),  # default port: browsers leave it out
        ("https://*.example.com", False),
        ("app.example.com", False),
        ("ftp://app.example.com", False),
        ("https://app.example.com; script-src *", False),  # no CSP injection
        ("https://user@app.example.com", False),
    ],
)
def test_origin_validation(origin: str, ok: bool) -> None:
    assert (origin_problem(origin) is None) is ok


def test_bad_origin_is_reported_by_the_system_check(settings) -> None:
    settings.NETCALL_EMBED_ORIGINS = ["https://app.example.com/"]
    with pytest.raises(SystemCheckError, match="NETCALL_EMBED_ORIGINS"):
        call_command("check")


def test_bad_origin_never_reaches_the_header(client: Client, settings) -> None:
    settings.NETCALL_EMBED_ORIGINS = ["https://a.example.com; script-src *"]
    with pytest.raises(ImproperlyConfigured):
        client.get("/embed/")


def test_csp_value() -> None:
    assert embed_content_security_policy(ORIGINS).endswith(
        "; frame-ancestors 'self' https://app.example.com http://127.0.0.1:8001"
    )
