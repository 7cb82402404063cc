"""Canonical, unpadded base64url (RFC 7515 §2 and Appendix C)."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.encoding import b64url_bytes as b64url_encode
from ostiary.jose._b64 import b64url_decode

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_rfc7515_appendix_c_example() -> None:
    assert b64url_encode(bytes([3, 236, 255, 224, 193])) == b"A-z_4ME"
    assert b64url_decode(b"A-z_4ME") == bytes([3, 236, 255, 224, 193])


@pytest.mark.parametrize("length", range(0, 70))
def test_round_trip_against_the_standard_library(length: int) -> None:
    data = os.urandom(length)
    encoded = b64url_encode(data)
    assert encoded == base64.urlsafe_b64encode(data).rstrip(b"=")
    assert b"=" not in encoded and not encoded.translate(None, ALPHABET)
    assert b64url_decode(encoded) == data


def test_empty() -> None:
    assert b64url_encode(b"") == b""
    assert b64url_decode(b"") == b""


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param(b"QQ==", id="padding"),
        pytest.param(b"QQ=", id="partial-padding"),
        pytest.param(b"+/+/", id="standard-alphabet"),
        pytest.param(b"QU JD", id="space"),
        pytest.param(b"QUJD\n", id="newline"),
        pytest.param(b"QUJD\x00", id="nul"),
        pytest.param("QUJDé".encode(), id="non-ascii"),
        pytest.param(b"A", id="length-1-mod-4"),
        pytest.param(b"QUJDR", id="length-5"),
        pytest.param(b"QR", id="stray-bits-one-byte"),
        pytest.param(b"QUF", id="stray-bits-two-bytes"),
    ],
)
def test_refused(segment: bytes) -> None:
    with pytest.raises(ValueError):
        b64url_decode(segment)


@pytest.mark.parametrize(("canonical", "spellings"), [(b"QQ", 16), (b"QUE", 4)])
def test_only_the_canonical_spelling_of_the_last_character(
    canonical: bytes, spellings: int
) -> None:
    # "QQ" is b"A" with 4 unused bits, "QUE" is b"AA" with 2: a lenient decoder maps 16 (or 4)
    # last characters to the same bytes; the strict one accepts exactly the canonical one.
    decoded = base64.urlsafe_b64decode(canonical + b"=" * (-len(canonical) % 4))
    candidates = [canonical[:-1] + bytes([c]) for c in ALPHABET]
    same = [c for c in candidates if base64.urlsafe_b64decode(c + b"=" * (-len(c) % 4)) == decoded]
    assert len(same) == spellings
    accepted = []
    for candidate in same:
        try:
            assert b64url_decode(candidate) == decoded
        except ValueError:
            continue
        accepted.append(candidate)
    assert accepted == [canonical]


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=200))
def test_round_trip_property(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=64))
def test_decode_accepts_only_the_one_canonical_spelling(segment: bytes) -> None:
    try:
        decoded = b64url_decode(segment)
    except ValueError:
        return
    assert b64url_encode(decoded) == segment
