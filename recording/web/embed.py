"""The embed page (a call inside another site's iframe) and the host-page helper script.

The page holds no secret and no per-call data: the host page's helper (static/netcall/embed.js) sends
the account, token and options by postMessage once the frame says it is ready, so the token never
appears in a URL or a server log. See README "Embedding"."""

from __future__ import annotations

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from recording.web.security_headers import embed_origins, embeddable

HELPER_STATIC_PATH = "netcall/embed.js"


@require_safe
@embeddable
def embed_page(request: HttpRequest) -> HttpResponse:
    """GET /embed/: only the call, sized to its frame; driven by the host page over postMessage."""
    config = {"embedOrigins": list(embed_origins())}
    return render(request, "embed.html", {"config": config})


@require_safe
def embed_helper(request: HttpRequest) -> HttpResponse:
    """GET /embed/embed.js: static/netcall/embed.js with CORS, so that a host page on another origin can
    `import` it as a module straight from this server (module scripts are fetched with CORS)."""
    source = _read_helper()
    response = HttpResponse(source, content_type="text/javascript; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"  # public code, no credentials
    response["Cache-Control"] = "public, max-age=300"
    return response


def _read_helper() -> bytes:
    found = finders.find(HELPER_STATIC_PATH)
    if isinstance(found, str):
        with open(found, "rb") as file:
            return file.read()
    if staticfiles_storage.exists(HELPER_STATIC_PATH):  # collected (collectstatic), no source tree
        with staticfiles_storage.open(HELPER_STATIC_PATH) as file:
            data: bytes = file.read()
            return data
    raise Http404("embed.js is not installed")
