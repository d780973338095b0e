"""The recordings library over HTTP: pages for participants and operators, and signed downloads.

The backend API (API key) is recording/library/api.py; access rules live in recording/library/services.py."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import IO

from asgiref.sync import sync_to_async
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from recording.library import services as library
from recording.library import storage
from recording.library import timeline as timelines
from recording.models import Recording
from recording.names import is_valid_name
from recording.tokens import JoinToken, TokenError
from recording.web.apikeys import request_is_staff
from recording.web.page_tokens import QUERY_REFUSED, page_token, page_token_remember

logger = logging.getLogger(__name__)

STREAM_CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
ROLE_TYPES = {"transcoded": {"mp4": "video/mp4", "m4a": "audio/mp4"}}
API_PAGE = 100


# --- who is asking ------------------------------------------------------------------------------------


def _viewer(request: HttpRequest, channel: str) -> tuple[bool, JoinToken | None]:
    """(allowed, token): staff see everything; a participant the channels their token is for."""
    if request_is_staff(request):
        return True, None
    kept = page_token(request, channel)
    return kept is not None, kept[1] if kept else None


def _forbidden(request: HttpRequest, channel: str) -> HttpResponse:
    return render(request, "recordings/forbidden.html", {"channel": channel}, status=403)


# --- pages --------------------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def recording_list(request: HttpRequest, channel: str) -> HttpResponse:
    """A channel's recordings. A join token for this channel, POSTed (a form or the page's script handing
    over a `#token=` fragment), opens it for this browser session; never in the query string."""
    if not is_valid_name(channel):
        raise Http404("no such channel")
    if "token" in request.GET:
        return render(request, "recordings/forbidden.html", {"channel": channel, "error": QUERY_REFUSED}, status=400)
    if request.method == "POST":
        try:
            page_token_remember(request, request.POST.get("token"), channel)
        except TokenError:
            return _forbidden(request, channel)
        return redirect("recording-list", channel=channel)
    allowed, token = _viewer(request, channel)
    if not allowed:
        return _forbidden(request, channel)
    filters = {k: request.GET.get(k, "") for k in ("account", "kind", "status")}
    recordings = list(library.recordings_for_channel(channel, filters=filters)[:500])
    for recording in recordings:  # a poster frame for video, else the waveform
        role = "poster" if recording.poster_file else "waveform"
        recording.preview_url = library.recording_download_url(recording, role=role, inline=True)  # type: ignore[attr-defined]
    return render(
        request,
        "recordings/list.html",
        {
            "channel": channel,
            "recordings": recordings,
            "filters": filters,
            "kinds": Recording.Kind.choices,
            "statuses": Recording.Status.choices,
            "viewer": token.account if token else None,
        },
    )


def _recording_in(channel: str, recording_id: str) -> Recording:
    parsed = library.parse_recording_id(recording_id)
    recording = Recording.objects.filter(pk=parsed, channel=channel).first() if parsed else None
    if recording is None:
        raise Http404("no such recording")
    return recording


RecordingPage = Callable[[HttpRequest, Recording, JoinToken | None], HttpResponse]


def _recording_page(view: RecordingPage) -> Callable[[HttpRequest, str, str], HttpResponse]:
    """A page of one recording at `recordings/<channel>/<recording_id>/…`: the viewer is turned away
    unless allowed in the channel, another channel's recording is a 404; `view` gets the recording and
    the viewer's token (None for staff)."""

    @functools.wraps(view)
    def page(request: HttpRequest, channel: str, recording_id: str) -> HttpResponse:
        allowed, token = _viewer(request, channel)
        if not allowed:
            return _forbidden(request, channel)
        return view(request, _recording_in(channel, recording_id), token)

    return page


def _may_delete(request: HttpRequest, token: JoinToken | None, recording: Recording) -> bool:
    if request_is_staff(request):
        return True
    return token is not None and token.account == recording.recorder


@require_safe
@_recording_page
def recording_detail(request: HttpRequest, recording: Recording, token: JoinToken | None) -> HttpResponse:
    play_role = "seekable" if recording.seekable_file else "original"
    context: dict[str, object] = {
        "channel": recording.channel,
        "recording": recording,
        "play_url": library.recording_download_url(recording, role=play_role, inline=True)
        if recording.is_playable
        else "",
        "is_audio": not recording.video_codec,
        "downloads": [
            (label, library.recording_download_url(recording, role=role))
            for role, label in (
                ("original", "Original (as uploaded)"),
                ("seekable", "Seekable copy"),
                ("transcoded", "Transcoded"),
            )
            if getattr(recording, storage.ROLES[role]).name
        ],
        "may_delete": _may_delete(request, token, recording),
        "consents": list(recording.consents.all()),
        "poster_url": library.recording_download_url(recording, role="poster", inline=True),
        "waveform_url": library.recording_download_url(recording, role="waveform", inline=True),
    }
    if recording.is_playable:
        context.update(_timeline_context(recording))
    return render(request, "recordings/detail.html", context)


def _percent(t: float, duration: float) -> str:
    return f"{max(0.0, min(100.0, 100.0 * t / duration)):.2f}" if duration > 0 else "0"


def _timeline_context(recording: Recording) -> dict[str, object]:
    """The detail page's timeline: markers positioned in percent, thumbnails as tiles of one strip."""
    data = timelines.recording_timeline(recording)
    duration = float(recording.duration or 0.0)
    thumbs = data["thumbnails"]
    strip_url = library.recording_download_url(recording, role="thumbnails", inline=True)
    count = len(thumbs["times"])
    thumbnails = [
        {"t": t, "x": f"{100.0 * i / (count - 1):.4f}" if count > 1 else "0", "label": _clock(t)}
        for i, t in enumerate(thumbs["times"])
    ]
    events = [
        {**event, "left": _percent(event["t"], duration), "clock": _clock(event["t"]), "label": label}
        for event, label in zip(
            data["events"],
            (f"{e['account']} {timelines.EVENT_LABELS[e['kind']]}" for e in data["events"]),
            strict=True,
        )
    ]
    spans = [
        {**span, "left": _percent(span["start"], duration), "width": _percent(span["end"] - span["start"], duration)}
        for span in data["speaking"]
    ]
    paused = [{**pause, "left": _percent(pause["at"], duration)} for pause in data["paused"]]
    return {
        "timeline": data,
        "timeline_events": events,
        "timeline_speaking": spans,
        "timeline_paused": paused,
        "timeline_present": data["present"],
        "thumbnails": thumbnails if strip_url else [],
        "thumbnails_url": strip_url,
        "thumbnails_count": count,
        "timeline_url": storage.download_url(recording.pk, role=storage.TIMELINE),
    }


def _clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


@require_POST
@_recording_page
def recording_delete_page(request: HttpRequest, recording: Recording, token: JoinToken | None) -> HttpResponse:
    if not _may_delete(request, token, recording):
        return _forbidden(request, recording.channel)
    who = token.account if token else f"staff:{request.user}"
    library.recording_delete(recording, by=who)
    return redirect("recording-list", channel=recording.channel)


# --- signed downloads ---------------------------------------------------------------------------------


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single byte range asked for, clamped; None for no (or an ignorable) Range header.
    Raises ValueError when the range cannot be satisfied."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # several ranges or another unit: answer with the whole file, as RFC 9110 allows
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise ValueError("empty suffix range")
        return max(0, size - suffix), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if start >= size or end < start:
        raise ValueError("range starts past the end")
    return start, end


async def _stream(handle: IO[bytes], start: int, length: int) -> AsyncIterator[bytes]:
    """Read the file in chunks off the event loop: constant memory whatever the size."""
    try:
        await sync_to_async(handle.seek)(start)
        remaining = length
        while remaining > 0:
            data = await sync_to_async(handle.read)(min(STREAM_CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        await sync_to_async(handle.close)()


def _download_name(recording: Recording, role: str, extension: str) -> str:
    base = recording.client_filename.rsplit(".", 1)[0] if recording.client_filename else ""
    base = base or f"recording-{recording.pk}"
    suffix = "" if role in ("original", "transcoded") else f"-{role}"
    return f"{base}{suffix}.{extension}"


@require_safe
def recording_file(request: HttpRequest, signed: str) -> HttpResponseBase:
    """One file of a recording, for whoever holds an unexpired signed link. Supports `Range`."""
    try:
        grant = storage.download_grant(signed)
    except storage.DownloadLinkError as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
    if grant.role not in storage.ROLES:
        raise Http404("no such file")
    recording = Recording.objects.filter(pk=grant.recording_id).first()
    name = getattr(recording, storage.ROLES[grant.role]).name if recording is not None else ""
    if recording is None or not name or recording.status == Recording.Status.FAILED:
        raise Http404("this recording is gone")
    store = storage.recording_storage()
    try:
        size = store.size(name)
        handle = store.open(name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404("this recording's file is gone") from None
    extension = name.rsplit(".", 1)[-1]
    checked = recording.status in Recording.PLAYABLE_STATUSES
    if grant.role in storage.PREVIEW_TYPES:
        content_type = storage.PREVIEW_TYPES[grant.role]
    elif grant.role == "transcoded":
        content_type = ROLE_TYPES["transcoded"].get(extension, storage.OPAQUE_TYPE)
    elif checked:
        content_type = storage.served_type(recording.container, has_video=bool(recording.video_codec))
    else:
        content_type = storage.OPAQUE_TYPE
    try:
        byte_range = _parse_range(request.headers.get("Range"), size)
    except ValueError:
        handle.close()
        response: HttpResponseBase = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, end = byte_range if byte_range is not None else (0, size - 1)
    length = max(0, end - start + 1)
    response = StreamingHttpResponse(_stream(handle, start, length), content_type=content_type)
    if byte_range is not None:
        response.status_code = 206
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-transform"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    disposition = content_disposition_header(
        as_attachment=not (grant.inline and (checked or grant.role in storage.PREVIEW_TYPES)),
        filename=_download_name(recording, grant.role, extension),
    )
    if disposition:
        response["Content-Disposition"] = disposition
    return response


@require_safe
def recording_timeline_json(request: HttpRequest, signed: str) -> HttpResponse:
    """A recording's timeline as JSON (recording/library/timeline.py), for whoever holds a signed link."""
    try:
        grant = storage.download_grant(signed)
    except storage.DownloadLinkError as exc:
        return JsonResponse({"error": {"code": "bad_link", "message": str(exc)}}, status=403)
    recording = Recording.objects.filter(pk=grant.recording_id).first() if grant.role == storage.TIMELINE else None
    if recording is None or not recording.is_playable:
        return JsonResponse({"error": {"code": "not_found", "message": "no such recording"}}, status=404)
    response = JsonResponse(timelines.recording_timeline(recording))
    response["Cache-Control"] = "private, no-store"
    return response
