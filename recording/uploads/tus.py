"""The tus 1.0.0 resumable upload protocol: header names, parsing and validation, no storage or views.

https://tus.io/protocols/resumable-upload — core, creation, creation-defer-length, termination,
checksum (sha1, md5, sha256) and expiration. Every malformed header raises `TusError` with the status
the protocol prescribes and a stable code, so the views only translate it into a response.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from recording.errors import NetcallError

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "creation-defer-length", "termination", "checksum", "expiration")
CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Non-standard headers: what the server made of a finished upload (see README "Uploads").
HEADER_RECORDING_ID = "Netcall-Recording-Id"
HEADER_RECORDING_SHA256 = "Netcall-Recording-Sha256"
HEADER_RECORDING_URL = "Netcall-Recording-Url"
HEADER_RECORDING_STATUS = "Netcall-Recording-Status"
# Sent by a client that completes an upload whose recording never stopped cleanly (a crashed tab).
HEADER_PARTIAL = "Netcall-Partial"

CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Checksum",
    "X-HTTP-Method-Override",
    "X-Requested-With",
    HEADER_PARTIAL,
)
CORS_EXPOSE_HEADERS = (
    "Location",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Expires",
    HEADER_RECORDING_ID,
    HEADER_RECORDING_SHA256,
    HEADER_RECORDING_URL,
    HEADER_RECORDING_STATUS,
)
CORS_ALLOW_METHODS = ("POST", "HEAD", "PATCH", "DELETE", "OPTIONS")

# RFC 9110 token characters: what a metadata key may be made of (no spaces, no commas).
_KEY = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_DIGITS = re.compile(r"^[0-9]{1,19}$")
MAX_METADATA_BYTES = 4096


class TusError(NetcallError):
    """A request the protocol refuses, with the HTTP status the protocol prescribes."""


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def new_hash(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)

    def matches(self, computed: bytes) -> bool:
        return computed == self.digest


def check_resumable(headers: Mapping[str, str]) -> None:
    """Every request but OPTIONS names the protocol version it speaks (412 otherwise)."""
    version = headers.get("Tus-Resumable")
    if version != TUS_VERSION:
        raise TusError(
            "tus_version", f"'Tus-Resumable: {TUS_VERSION}' is required (got {version or 'nothing'})", status=412
        )


def parse_non_negative(value: str | None, header: str) -> int | None:
    """A header holding a non-negative integer, or None when absent."""
    if value is None:
        return None
    value = value.strip()
    if not _DIGITS.match(value):
        raise TusError("bad_header", f"'{header}' must be a non-negative integer")
    return int(value)


def parse_creation_length(headers: Mapping[str, str]) -> int | None:
    """Upload-Length, or None with `Upload-Defer-Length: 1`; exactly one of them (creation-defer-length)."""
    length = parse_non_negative(headers.get("Upload-Length"), "Upload-Length")
    defer = headers.get("Upload-Defer-Length")
    if defer is not None and defer.strip() != "1":
        raise TusError("bad_header", "'Upload-Defer-Length' must be 1")
    if (length is None) == (defer is None):
        raise TusError("bad_header", "send exactly one of 'Upload-Length' and 'Upload-Defer-Length: 1'")
    return length


def parse_metadata(value: str | None) -> dict[str, str | None]:
    """`Upload-Metadata`: comma-separated `key base64value` pairs (value optional), keys unique.

    Values are decoded as UTF-8 text; bytes that are not UTF-8 are refused rather than guessed at.
    """
    if value is None or not value.strip():
        return {}
    if len(value) > MAX_METADATA_BYTES:
        raise TusError("bad_metadata", f"'Upload-Metadata' is longer than {MAX_METADATA_BYTES} characters")
    result: dict[str, str | None] = {}
    for pair in value.split(","):
        parts = pair.strip().split(" ")
        if len(parts) > 2 or not parts[0]:
            raise TusError("bad_metadata", "'Upload-Metadata' must be comma-separated 'key base64value' pairs")
        key = parts[0]
        if not _KEY.match(key):
            raise TusError("bad_metadata", f"metadata key {key!r} has characters a key may not have")
        if key in result:
            raise TusError("bad_metadata", f"metadata key {key!r} appears twice")
        if len(parts) == 1:
            result[key] = None
            continue
        try:
            decoded = base64.b64decode(parts[1], validate=True)
            result[key] = decoded.decode("utf-8")
        except (binascii.Error, ValueError):
            raise TusError("bad_metadata", f"metadata value of {key!r} is not base64 of UTF-8 text") from None
    return result


def encode_metadata(metadata: Mapping[str, str | None]) -> str:
    """The inverse of `parse_metadata`, for echoing metadata back in HEAD."""
    parts = []
    for key, value in metadata.items():
        parts.append(key if value is None else f"{key} {base64.b64encode(value.encode()).decode('ascii')}")
    return ",".join(parts)


def parse_checksum(value: str | None) -> Checksum | None:
    """`Upload-Checksum: <algorithm> <base64 digest>`; an algorithm not offered is a 400."""
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusError("bad_checksum_algorithm", f"checksum algorithm must be one of {', '.join(CHECKSUM_ALGORITHMS)}")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise TusError("bad_header", "'Upload-Checksum' digest must be base64") from None
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise TusError("bad_header", f"'Upload-Checksum' digest has the wrong length for {algorithm}")
    return Checksum(algorithm=algorithm, digest=digest)


def check_patch_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != OFFSET_CONTENT_TYPE:
        raise TusError("bad_content_type", f"PATCH bodies must be '{OFFSET_CONTENT_TYPE}'", status=415)


def option_headers(max_size: int) -> dict[str, str]:
    """What OPTIONS tells a client about this server."""
    return {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(TUS_EXTENSIONS),
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }
