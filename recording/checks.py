"""System checks: report a deployment that would fail at run time, before it runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def netcall_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    if settings.SECRET_KEY == settings.MISSING_SECRET_KEY:
        problems.append(
            Error(
                "NETCALL_SECRET_KEY is not set and no key file could be read or made at "
                f"{settings.NETCALL_SECRET_KEY_FILE}.",
                hint="Set NETCALL_SECRET_KEY to a long random string, or make var/ writable.",
                id="netcall.E001",
            )
        )
    if settings.NETCALL_ROOM_CAPACITY < 2:
        problems.append(Error("NETCALL_ROOM_CAPACITY must be at least 2.", id="netcall.E002"))
    if not isinstance(settings.NETCALL_ICE_SERVERS, list):
        problems.append(Error("NETCALL_ICE_SERVERS must be a JSON list of RTCIceServer objects.", id="netcall.E003"))
    if settings.NETCALL_SQLITE_SYNCHRONOUS not in settings.SQLITE_SYNCHRONOUS_LEVELS:
        problems.append(
            Error(
                f"NETCALL_SQLITE_SYNCHRONOUS must be one of {', '.join(settings.SQLITE_SYNCHRONOUS_LEVELS)} "
                f"(got {settings.NETCALL_SQLITE_SYNCHRONOUS!r}); FULL is used meanwhile.",
                id="netcall.E004",
            )
        )
    if settings.NETCALL_GUEST_MODE and not settings.DEBUG:
        problems.append(
            Warning(
                "Guest mode is on in production: anyone can mint a join token from the lobby.",
                id="netcall.W001",
            )
        )
    return problems


@register()
def netcall_embed_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """NETCALL_EMBED_ORIGINS must hold exact origins: they go into a CSP header and postMessage checks."""
    from recording.web.security_headers import origin_problem

    return [
        Error(
            f"NETCALL_EMBED_ORIGINS: {origin!r} {problem}.",
            hint="A comma-separated list of origins such as https://app.example.com",
            id="netcall.E060",
        )
        for origin in settings.NETCALL_EMBED_ORIGINS
        if (problem := origin_problem(origin))
    ]


IN_PROCESS_LAYERS = ("channels.layers.InMemoryChannelLayer", "recording.signalling.layer.LocalChannelLayer")


@register()
def netcall_scale_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """Settings of a deployment of several processes (docs: README, "Deployment past one machine")."""
    problems: list[Error | Warning] = []
    in_memory_layer = settings.CHANNEL_LAYERS["default"]["BACKEND"] in IN_PROCESS_LAYERS
    if in_memory_layer and not settings.NETCALL_RECORDER_IN_PROCESS:
        problems.append(
            Error(
                "NETCALL_RECORDER_IN_PROCESS is off but the channel layer is in-memory: no recorder worker "
                "in another process can receive a live session, so none would be recorded.",
                hint="Set REDIS_URL on every process, or NETCALL_RECORDER_IN_PROCESS=1.",
                id="netcall.E010",
            )
        )
    sqlite = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    if not in_memory_layer and sqlite:
        problems.append(
            Warning(
                "REDIS_URL is set (several processes) but the database is SQLite: processes on other machines "
                "cannot share it, and on one machine every write waits for the file lock.",
                hint="Set DATABASE_URL=postgres://... on every process.",
                id="netcall.W010",
            )
        )
    return problems


@register(deploy=True)
def netcall_secret_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """A key made on this machine signs differently from every other machine's."""
    if not settings.SECRET_KEY_FROM_FILE:
        return []
    return [
        Warning(
            f"The signing key comes from {settings.NETCALL_SECRET_KEY_FILE}, made on this machine.",
            hint="Set NETCALL_SECRET_KEY to the same long random string on every process of the deployment.",
            id="netcall.W002",
        )
    ]
