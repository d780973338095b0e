"""System checks of the live broadcasting and callback settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def netcall_live_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    if (
        settings.NETCALL_LIVE_WIDTH < 64
        or settings.NETCALL_LIVE_HEIGHT < 64
        or not 1 <= settings.NETCALL_LIVE_FPS <= 60
    ):
        problems.append(
            Error("NETCALL_LIVE_WIDTH/HEIGHT must be at least 64 and NETCALL_LIVE_FPS 1-60.", id="netcall.E070")
        )
    url = settings.NETCALL_CALLBACK_URL
    if url:
        if urlsplit(url).scheme not in ("http", "https"):
            problems.append(Error("NETCALL_CALLBACK_URL must be an http(s) URL.", id="netcall.E071"))
        if not settings.NETCALL_CALLBACK_SECRET:
            problems.append(
                Error(
                    "NETCALL_CALLBACK_URL is set but NETCALL_CALLBACK_SECRET is not: callbacks cannot be signed.",
                    id="netcall.E072",
                )
            )
        if not settings.NETCALL_PUBLIC_URL:
            problems.append(
                Warning(
                    "NETCALL_PUBLIC_URL is not set: download links in callbacks point at http://localhost:8000.",
                    hint="Set it to the address customers' servers reach this service at.",
                    id="netcall.W070",
                )
            )
    return problems


@register(deploy=True)
def netcall_public_url_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """`make run` sets NETCALL_PUBLIC_URL from HOST and PORT; a deployment must say where it is reached."""
    if settings.NETCALL_PUBLIC_URL:
        return []
    return [
        Warning(
            "NETCALL_PUBLIC_URL is not set: links in callbacks cannot name the address this service is reached at.",
            hint="Set it to the public origin, e.g. https://call.example.org.",
            id="netcall.W071",
        )
    ]
