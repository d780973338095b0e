"""HTTP views: the demo lobby and room pages, and token minting for backends."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from recording.errors import NetcallError
from recording.names import is_valid_account, is_valid_name
from recording.tokens import DEFAULT_GRANTS, GRANTS, TokenError, token_mint, token_revoke, token_verify
from recording.web.api_errors import api_endpoint, json_object, ttl_field
from recording.web.page_tokens import QUERY_REFUSED, page_token, page_token_remember

MAX_TTL = 7 * 24 * 3600
# What the demo pages use: calls, recording, uploads and hosting a broadcast.
GUEST_GRANTS = ("publish", "record", "upload", "live")


@require_safe
def lobby(request: HttpRequest) -> HttpResponse:
    channel = request.GET.get("channel", "")
    if channel and is_valid_name(channel):
        # The lobby form without JavaScript: forward its fields to the room page.
        query = urlencode({k: v for k, v in request.GET.items() if k in ("account", "type")})
        return redirect(f"{reverse('room', kwargs={'channel': channel})}?{query}")
    return render(request, "lobby.html", {"guest_mode": settings.NETCALL_GUEST_MODE})


@require_http_methods(["GET", "HEAD", "POST"])
def room(request: HttpRequest, channel: str) -> HttpResponse:
    """The demo call page. A backend's token comes by POST (a form, or the page's script handing over a
    `#token=` fragment) and is kept in the session (recording/web/page_tokens.py); in guest mode,
    `?account=` mints one. Tokens in the query string are refused."""
    if not is_valid_name(channel):
        return HttpResponseBadRequest("invalid channel name")
    if "token" in request.GET:
        return render(request, "room_token.html", {"channel": channel, "error": QUERY_REFUSED}, status=400)
    query = {k: v for k, v in request.GET.items() if k in ("account", "type", "live", "rtmpUrl", "rtmpRecord")}
    if request.method == "POST":
        try:
            page_token_remember(request, request.POST.get("token"), channel)
        except TokenError:
            message = "That token is not valid for this channel, has expired or was revoked."
            return render(request, "room_token.html", {"channel": channel, "error": message}, status=403)
        url = reverse("room", kwargs={"channel": channel})
        return redirect(f"{url}?{urlencode(query)}" if query else url)  # POST, redirect, GET: reload works
    call_type = "audio" if request.GET.get("type") == "audio" else "video"
    kept = page_token(request, channel)
    wanted = request.GET.get("account", "")
    if kept is not None and (not wanted or wanted == kept[1].account or not settings.NETCALL_GUEST_MODE):
        token, account = kept[0], kept[1].account
    else:
        account = wanted
        if not settings.NETCALL_GUEST_MODE:
            # Asks for a token (a form, or its script posts a #token= fragment): not an error yet.
            return render(request, "room_token.html", {"channel": channel})
        if not is_valid_account(account):
            return render(request, "lobby.html", {"error": "Choose an account name (1-64 characters)."}, status=400)
        token = token_mint(account=account, channel=channel, grants=GUEST_GRANTS)
        page_token_remember(request, token, channel)  # the library link of this page works with it too
    config = {"account": account, "channel": channel, "token": token, "type": call_type, "live": _live_choice(request)}
    return render(request, "room.html", {"config": config, "channel": channel, "account": account})


def _live_choice(request: HttpRequest) -> dict[str, object] | None:
    """The lobby's live-broadcast choice (`?live=host&rtmpUrl=…&rtmpRecord=1` or `?live=cohost`), passed to
    joinChannel as the seed's `liveEnable` / `sessionConfig`; the server validates it at join."""
    role = request.GET.get("live", "")
    if role not in ("host", "cohost"):
        return None
    session_config: dict[str, object] = {"rtmpRecord": request.GET.get("rtmpRecord") == "1"}
    if role == "host":
        session_config["rtmpUrl"] = request.GET.get("rtmpUrl", "")
    return {"liveEnable": True, "sessionConfig": session_config}


@api_endpoint("POST")
def api_tokens(request: HttpRequest) -> JsonResponse:
    """POST /api/tokens: a backend mints a join token for one account and channel."""
    body = json_object(request.body)
    account, channel = body.get("account"), body.get("channel")
    if not (is_valid_account(account) and is_valid_name(channel)):
        raise NetcallError("bad_request", "'account' and 'channel' must be 1-64 characters without slashes")
    ttl = ttl_field(body, default=settings.NETCALL_TOKEN_TTL, maximum=MAX_TTL)
    grants = body.get("grants", list(DEFAULT_GRANTS))
    if not isinstance(grants, list) or not all(g in GRANTS for g in grants):
        raise NetcallError("bad_request", f"'grants' must be a list drawn from {list(GRANTS)}")
    token = token_mint(account=str(account), channel=str(channel), ttl=ttl, grants=grants)
    parsed = token_verify(token)
    return JsonResponse(
        {
            "token": token,
            "account": parsed.account,
            "channel": parsed.channel,
            "grants": sorted(parsed.grants),
            "expiresAt": parsed.expires_at,
        },
        status=201,
    )


@api_endpoint("POST")
def api_token_revoke(request: HttpRequest) -> JsonResponse:
    """POST /api/tokens/revoke {"token": "..."}: joins, library pages and uploads refuse it from now on."""
    body = json_object(request.body)
    token = token_verify(body.get("token"))  # TokenError (401) for a forged or expired one
    if not token.id:
        raise NetcallError("bad_request", "this token predates token ids and cannot be revoked")
    created = token_revoke(token, by="api")
    return JsonResponse({"id": token.id, "revoked": True, "already": not created})
