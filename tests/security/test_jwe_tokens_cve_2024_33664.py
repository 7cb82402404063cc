"""Attack: JWE where a JWS is expected. Decrypting is where the known denial-of-service bugs
live: a ``zip: DEF`` decompression bomb (CVE-2024-33664 in python-jose, CVE-2024-28102 in
jwcrypto) and a PBES2 ``p2c`` iteration count of 2**31-1 (CVE-2022-36083 in jose for Node).
An access-token verifier never decrypts: five segments are ``MalformedToken``, and a JWE
header squeezed into three segments is ``DisallowedAlgorithm``, both without touching the
ciphertext, so they fail fast."""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import pytest

from ostiary.errors import DisallowedAlgorithm, MalformedToken
from ostiary.jose import JWK, JWKSet
from tests.security._attacks import assert_refused
from tests.unit.jose._helpers import access_claims, at_header, b64url, b64url_json, sign_raw

#: About 5 MiB of zeros deflated to about 5 KiB: small enough to pass the size cap.
BOMB = zlib.compress(bytes(5 * 1024 * 1024), 9)

ZIP_HEADER: dict[str, Any] = {"alg": "dir", "enc": "A256GCM", "zip": "DEF"}
PBES2_HEADER: dict[str, Any] = {
    "alg": "PBES2-HS512+A256KW",
    "enc": "A256GCM",
    "p2c": 2_147_483_647,
    "p2s": b64url(os.urandom(16)),
}


def _jwe(header: dict[str, Any], encrypted_key: bytes, ciphertext: bytes) -> str:
    parts = [b64url_json(header), b64url(encrypted_key), b64url(os.urandom(12))]
    return ".".join([*parts, b64url(ciphertext), b64url(os.urandom(16))])


def test_bomb_fits_under_the_size_cap() -> None:
    # Otherwise the tests below would only exercise the size cap.
    assert len(_jwe(ZIP_HEADER, b"", BOMB)) < 8 * 1024


def test_five_part_jwe_with_zip_deflate_bomb(es256_keys: JWKSet) -> None:
    assert_refused(_jwe(ZIP_HEADER, b"", BOMB), es256_keys, MalformedToken)


def test_five_part_jwe_with_pbes2_huge_p2c(es256_keys: JWKSet) -> None:
    token = _jwe(PBES2_HEADER, os.urandom(40), os.urandom(64))
    assert_refused(token, es256_keys, MalformedToken)


@pytest.mark.parametrize("header", [ZIP_HEADER, PBES2_HEADER], ids=["zip", "pbes2"])
def test_jwe_header_in_three_segments(header: dict[str, Any], es256_keys: JWKSet) -> None:
    token = f"{b64url_json(header)}.{b64url(BOMB)}.{b64url(os.urandom(16))}"
    assert_refused(token, es256_keys, DisallowedAlgorithm)


def test_zip_on_a_signed_jws_is_never_inflated(es256_key: JWK, es256_keys: JWKSet) -> None:
    # A correctly signed JWS whose payload is deflated claims: the payload is taken as it is
    # (RFC 7515 has no zip), so it is not JSON and is refused, never decompressed.
    header = json.dumps(at_header(es256_key, zip="DEF"))
    payload = zlib.compress(json.dumps(access_claims()).encode())
    assert_refused(sign_raw(header, payload, es256_key), es256_keys, MalformedToken)
