"""HTTP views of the tus endpoint at /api/uploads/: parse, authorise, call recording.uploads.services, answer.

Authentication is the join token (`Authorization: Bearer <token>`) with the `upload` grant; an upload
belongs to the token's account and channel and nobody else may touch it. Cross-origin clients get the
CORS headers tus clients need, but only from origins in NETCALL_UPLOAD_CORS_ORIGINS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from recording.errors import NetcallError
from recording.library import services as library
from recording.models import Upload
from recording.tokens import JoinToken, token_check
from recording.uploads import recordings, tus
from recording.uploads.services import upload_append, upload_create, upload_get, upload_terminate
from recording.uploads.tus import TusError
from recording.web.api_errors import error_response

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def _error(exc: NetcallError) -> HttpResponse:
    """The API's JSON error body, with the headers tus and HTTP auth add to it."""
    response = error_response(exc)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="netcall uploads"'
    if exc.status == 412:
        response["Tus-Version"] = tus.TUS_VERSION
    return response


def _cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    origin = request.headers.get("Origin")
    response["Vary"] = "Origin"
    if origin and origin in settings.NETCALL_UPLOAD_CORS_ORIGINS:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = ", ".join(tus.CORS_EXPOSE_HEADERS)
        if request.method == "OPTIONS":
            response["Access-Control-Allow-Methods"] = ", ".join(tus.CORS_ALLOW_METHODS)
            response["Access-Control-Allow-Headers"] = ", ".join(tus.CORS_ALLOW_HEADERS)
            response["Access-Control-Max-Age"] = "86400"
    return response


def tus_view(view: View) -> View:
    """Method override, version check, TusError → response, CORS and `Tus-Resumable` on every answer."""

    @csrf_exempt  # authenticated by the bearer token, never by cookies
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        override = request.headers.get("X-HTTP-Method-Override")
        if override and request.method == "POST":
            request.method = override.upper()
        try:
            if request.method != "OPTIONS":
                tus.check_resumable(request.headers)
            response = view(request, *args, **kwargs)
        except NetcallError as exc:  # TusError, and TokenError (401) from the token check
            response = _error(exc)
        response["Tus-Resumable"] = tus.TUS_VERSION
        if request.method == "HEAD" or request.method == "PATCH":
            response["Cache-Control"] = "no-store"
        return _cors(request, response)

    return wrapper


def _token(request: HttpRequest) -> JoinToken:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise TusError("token_missing", "an 'Authorization: Bearer <join token>' header is required", status=401)
    token = token_check(presented.strip())
    if not token.allows("upload"):
        raise TusError("forbidden", "the token lacks the 'upload' grant", status=403)
    return token


def _owned(request: HttpRequest, upload_id: str) -> Upload:
    token = _token(request)
    upload = upload_get(upload_id)
    if (upload.account, upload.channel) != (token.account, token.channel):
        raise TusError("forbidden", "this upload belongs to another account or channel", status=403)
    return upload


def _options() -> HttpResponse:
    response = HttpResponse(status=204)
    for name, value in tus.option_headers(settings.NETCALL_UPLOAD_MAX_SIZE).items():
        response[name] = value
    return response


def _upload_headers(request: HttpRequest, response: HttpResponse, upload: Upload) -> None:
    response["Upload-Offset"] = str(upload.offset)
    if upload.length is None:
        response["Upload-Defer-Length"] = "1"
    else:
        response["Upload-Length"] = str(upload.length)
    if upload.state == Upload.State.OPEN:
        response["Upload-Expires"] = http_date(upload.expires_at.timestamp())
    recording = recordings.recording_of_upload(upload)
    if recording is not None:
        response[tus.HEADER_RECORDING_ID] = str(recording.id)
        response[tus.HEADER_RECORDING_STATUS] = recording.status
        if upload.state == Upload.State.COMPLETE and recording.sha256:
            response[tus.HEADER_RECORDING_SHA256] = recording.sha256
            url = library.recording_download_url(recording)
            if url:
                response[tus.HEADER_RECORDING_URL] = request.build_absolute_uri(url)


@tus_view
def uploads_collection(request: HttpRequest) -> HttpResponse:
    """OPTIONS: what the server speaks; POST: create an upload (creation, creation-defer-length)."""
    if request.method == "OPTIONS":
        return _options()
    if request.method != "POST":
        raise TusError("method_not_allowed", "use POST to create an upload", status=405)
    token = _token(request)
    length = tus.parse_creation_length(request.headers)
    metadata = tus.parse_metadata(request.headers.get("Upload-Metadata"))
    upload = upload_create(account=token.account, channel=token.channel, length=length, metadata=metadata)
    response = HttpResponse(status=201)
    response["Location"] = request.build_absolute_uri(reverse("upload", kwargs={"upload_id": upload.id}))
    _upload_headers(request, response, upload)
    return response


@tus_view
def uploads_resource(request: HttpRequest, upload_id: str) -> HttpResponse:
    """HEAD: where the upload stands; PATCH: append at an offset; DELETE: terminate."""
    if request.method == "OPTIONS":
        return _options()
    if request.method == "HEAD" or request.method == "GET":
        upload = _owned(request, upload_id)
        response = HttpResponse(status=200 if request.method == "HEAD" else 204)
        _upload_headers(request, response, upload)
        if upload.metadata:
            response["Upload-Metadata"] = tus.encode_metadata(
                {k: v for k, v in upload.metadata.items() if not k.startswith("netcall-")}
            )
        return response
    if request.method == "PATCH":
        tus.check_patch_content_type(request.headers.get("Content-Type"))
        offset = tus.parse_non_negative(request.headers.get("Upload-Offset"), "Upload-Offset")
        if offset is None:
            raise TusError("bad_header", "'Upload-Offset' is required")
        declared = tus.parse_non_negative(request.headers.get("Upload-Length"), "Upload-Length")
        checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
        content_length = tus.parse_non_negative(request.headers.get("Content-Length"), "Content-Length")
        upload = _owned(request, upload_id)
        result = upload_append(
            upload=upload,
            offset=offset,
            stream=request,
            content_length=content_length,
            checksum=checksum,
            declared_length=declared,
            partial=request.headers.get(tus.HEADER_PARTIAL) == "1",
        )
        response = HttpResponse(status=204)
        _upload_headers(request, response, result.upload)
        return response
    if request.method == "DELETE":
        upload = _owned(request, upload_id)
        upload_terminate(upload)
        return HttpResponse(status=204)
    raise TusError("method_not_allowed", "use HEAD, PATCH or DELETE on an upload", status=405)
