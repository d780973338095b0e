"""The backend HTTP API of the library (API key): list, metadata, signed links, delete, transcode."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime

from recording.errors import NetcallError
from recording.library import services as library
from recording.library import storage
from recording.library.finishing import recording_request_transcode
from recording.models import Recording
from recording.web.api_errors import api_endpoint, json_object, ttl_field

API_PAGE = 100
MAX_LINK_TTL = 7 * 24 * 3600


def _recording(recording_id: str) -> Recording:
    parsed = library.parse_recording_id(recording_id)
    recording = Recording.objects.filter(pk=parsed).first() if parsed else None
    if recording is None:
        raise NetcallError("not_found", "no such recording", status=404)
    return recording


@api_endpoint("GET")
def api_recordings(request: HttpRequest) -> HttpResponse:
    """GET /api/recordings?channel=&account=&kind=&status=&before=<iso>&limit=: newest first."""
    queryset = Recording.objects.all().order_by("-created_at")
    for key in ("channel", "account", "kind", "status", "recorder"):
        value = request.GET.get(key)
        if value:
            queryset = queryset.filter(**{key: value})
    before = request.GET.get("before")
    if before:
        moment = parse_datetime(before)
        if moment is None:
            raise NetcallError("bad_request", "'before' must be an ISO 8601 date and time")
        queryset = queryset.filter(created_at__lt=moment)
    try:
        limit = min(API_PAGE, max(1, int(request.GET.get("limit", API_PAGE))))
    except ValueError:
        raise NetcallError("bad_request", "'limit' must be a whole number") from None
    items = [library.recording_as_api(r) for r in queryset[:limit]]
    return JsonResponse({"recordings": items, "count": len(items)})


@api_endpoint("GET", "DELETE")
def api_recording(request: HttpRequest, recording_id: str) -> HttpResponse:
    """GET metadata (with signed links), DELETE the recording and its files."""
    recording = _recording(recording_id)
    if request.method == "DELETE":
        library.recording_delete(recording, by="api")
        return HttpResponse(status=204)
    return JsonResponse(library.recording_as_api(recording))


@api_endpoint("POST")
def api_recording_links(request: HttpRequest, recording_id: str) -> HttpResponse:
    """POST {"role": "original"|"seekable"|"transcoded", "ttl": seconds, "inline": bool} → a signed link."""
    recording = _recording(recording_id)
    body = json_object(request.body)
    role = body.get("role", "original")
    if role not in storage.ROLES:
        raise NetcallError("bad_request", f"'role' must be one of {sorted(storage.ROLES)}")
    ttl = ttl_field(body, default=settings.NETCALL_DOWNLOAD_URL_TTL, maximum=MAX_LINK_TTL)
    if not getattr(recording, storage.ROLES[role]).name:
        raise NetcallError("not_found", f"this recording has no {role} file", status=404)
    url = storage.download_url(recording.pk, role=role, ttl=ttl, inline=bool(body.get("inline")))
    return JsonResponse({"url": request.build_absolute_uri(url), "expiresIn": ttl}, status=201)


@api_endpoint("POST")
def api_recording_transcode(request: HttpRequest, recording_id: str) -> HttpResponse:
    """POST: make the transcoded file (MP4 H.264+AAC, or AAC .m4a for a mix) in the background; counts
    against the recorder's NETCALL_TRANSCODE_PER_HOUR (a server recording's: the recorded account's)."""
    recording = _recording(recording_id)
    recording_request_transcode(recording, account=recording.recorder or recording.account or f"#{recording.channel}")
    return JsonResponse({"id": str(recording.pk), "transcodeRequested": True}, status=202)
