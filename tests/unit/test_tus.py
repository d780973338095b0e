"""tus header and metadata parsing (recording/uploads/tus.py), without any view or storage."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest

from recording.errors import NetcallError
from recording.uploads import tus
from recording.uploads.tus import TusError


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def assert_refused(call: Callable[[], object], code: str, status: int = 400) -> TusError:
    with pytest.raises(TusError) as info:
        call()
    assert (info.value.code, info.value.status) == (code, status)
    return info.value


def test_tus_error_is_a_netcall_error() -> None:
    error = TusError("bad_header", "nope")
    assert isinstance(error, NetcallError)
    assert (error.code, error.message, error.status) == ("bad_header", "nope", 400)


# --- Tus-Resumable -------------------------------------------------------------------------------------


def test_check_resumable_accepts_the_version() -> None:
    tus.check_resumable({"Tus-Resumable": "1.0.0"})


@pytest.mark.parametrize("headers", [{}, {"Tus-Resumable": "0.2.2"}, {"Tus-Resumable": ""}])
def test_check_resumable_refuses_other_versions_with_412(headers: dict[str, str]) -> None:
    assert_refused(lambda: tus.check_resumable(headers), "tus_version", 412)


# --- integers and creation length ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("0", 0), (" 42 ", 42), ("9" * 19, int("9" * 19))])
def test_parse_non_negative(value: str | None, expected: int | None) -> None:
    assert tus.parse_non_negative(value, "Upload-Offset") == expected


@pytest.mark.parametrize("value", ["", "-1", "+1", "1.5", "1e3", "0x10", "1 2", "9" * 20, "١٢"])
def test_parse_non_negative_refuses(value: str) -> None:
    error = assert_refused(lambda: tus.parse_non_negative(value, "Upload-Offset"), "bad_header")
    assert "Upload-Offset" in error.message


def test_parse_creation_length_with_length() -> None:
    assert tus.parse_creation_length({"Upload-Length": "1000"}) == 1000
    assert tus.parse_creation_length({"Upload-Length": "0"}) == 0


def test_parse_creation_length_deferred() -> None:
    assert tus.parse_creation_length({"Upload-Defer-Length": "1"}) is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Upload-Length": "10", "Upload-Defer-Length": "1"},
        {"Upload-Defer-Length": "0"},
        {"Upload-Defer-Length": "true"},
        {"Upload-Length": "ten"},
    ],
)
def test_parse_creation_length_needs_exactly_one(headers: dict[str, str]) -> None:
    assert_refused(lambda: tus.parse_creation_length(headers), "bad_header")


# --- Upload-Metadata -----------------------------------------------------------------------------------


def test_parse_metadata_pairs_and_value_less_keys() -> None:
    header = f"filename {b64('café.webm'.encode())}, kind {b64(b'mp4')},is_partial"
    assert tus.parse_metadata(header) == {"filename": "café.webm", "kind": "mp4", "is_partial": None}


@pytest.mark.parametrize("value", [None, "", "   "])
def test_parse_metadata_absent_is_empty(value: str | None) -> None:
    assert tus.parse_metadata(value) == {}


def test_parse_metadata_key_with_trailing_space_is_value_less() -> None:
    assert tus.parse_metadata("a ,b") == {"a": None, "b": None}


@pytest.mark.parametrize(
    "header",
    [
        f"name {b64(b'a')},name {b64(b'b')}",  # duplicate key
        "flag,flag",  # duplicate value-less key
        f"na:me {b64(b'a')}",  # ':' is not a token character
        f"näme {b64(b'a')}",  # non-ASCII key
        f"name {b64(b'a')} extra",  # three parts
        f"name  {b64(b'a')}",  # two spaces: an empty part
        f"name {b64(b'a')},",  # trailing comma: an empty pair
        f" ,name {b64(b'a')}",  # empty first pair
        "name YQ",  # base64 without padding
        "name Y*==",  # not base64 at all
        f"name {b64(bytes([0xFF, 0xFE]))}",  # base64 of bytes that are not UTF-8
    ],
)
def test_parse_metadata_refuses(header: str) -> None:
    assert_refused(lambda: tus.parse_metadata(header), "bad_metadata")


def test_parse_metadata_length_limit() -> None:
    at_limit = "k" * tus.MAX_METADATA_BYTES
    assert tus.parse_metadata(at_limit) == {at_limit: None}
    assert_refused(lambda: tus.parse_metadata(at_limit + "k"), "bad_metadata")


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"filename": "clip.webm"},
        {"filename": "Grüße, 世界 🎙.webm", "empty": "", "flag": None, "kind": "aac"},
    ],
)
def test_encode_metadata_round_trip(metadata: dict[str, str | None]) -> None:
    encoded = tus.encode_metadata(metadata)
    assert encoded.isascii()
    # An empty value encodes as "key " which reads back as value-less: the one lossy case.
    expected = {k: (None if v == "" else v) for k, v in metadata.items()}
    assert tus.parse_metadata(encoded) == expected


# --- Upload-Checksum -----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
def test_parse_checksum_algorithms(algorithm: str) -> None:
    digest = hashlib.new(algorithm, b"chunk").digest()
    checksum = tus.parse_checksum(f"{algorithm.upper()} {b64(digest)}")
    assert checksum is not None
    assert (checksum.algorithm, checksum.digest) == (algorithm, digest)
    hasher = checksum.new_hash()
    hasher.update(b"chunk")
    assert checksum.matches(hasher.digest())
    assert not checksum.matches(hashlib.new(algorithm, b"other").digest())


def test_parse_checksum_absent() -> None:
    assert tus.parse_checksum(None) is None


@pytest.mark.parametrize("value", ["crc32 AAAAAA==", "sha512 " + b64(hashlib.sha512().digest()), ""])
def test_parse_checksum_refuses_other_algorithms(value: str) -> None:
    assert_refused(lambda: tus.parse_checksum(value), "bad_checksum_algorithm")


@pytest.mark.parametrize(
    "value",
    [
        "sha1 not*base64",
        "sha1 " + b64(hashlib.sha1().digest())[:-1],  # padding cut
        "sha1",  # no digest at all
        "sha1 " + b64(hashlib.md5().digest()),  # an md5 digest claimed as sha1
        "sha256 " + b64(hashlib.sha1().digest()),
    ],
)
def test_parse_checksum_refuses_bad_digests(value: str) -> None:
    assert_refused(lambda: tus.parse_checksum(value), "bad_header")


# --- PATCH content type and OPTIONS --------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["application/offset+octet-stream", "Application/Offset+Octet-Stream", "application/offset+octet-stream; x=1"],
)
def test_check_patch_content_type_accepts(content_type: str) -> None:
    tus.check_patch_content_type(content_type)


@pytest.mark.parametrize("content_type", [None, "", "application/octet-stream", "text/plain"])
def test_check_patch_content_type_refuses_with_415(content_type: str | None) -> None:
    assert_refused(lambda: tus.check_patch_content_type(content_type), "bad_content_type", 415)


def test_option_headers() -> None:
    assert tus.option_headers(1024) == {
        "Tus-Resumable": "1.0.0",
        "Tus-Version": "1.0.0",
        "Tus-Extension": "creation,creation-defer-length,termination,checksum,expiration",
        "Tus-Max-Size": "1024",
        "Tus-Checksum-Algorithm": "sha1,md5,sha256",
    }
