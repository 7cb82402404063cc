"""Attack: "psychic signatures" (CVE-2022-21449, Java 15-18): an ECDSA signature with r = s = 0
verified as valid for every message and key. Sent here as 64 zero bytes (the JWS form of ES256),
as the DER form ``MAYCAQACAQA``, and with r or s equal to the curve order n (which is 0 mod n)."""

from __future__ import annotations

import pytest

from ostiary.errors import BadSignature
from ostiary.jose import JWK, JWKSet, sign_compact
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import access_claims, b64url

#: Order of the P-256 and P-384 base points (SEC 2 §2.4.2, §2.5.1).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P384_N = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
    "581A0DB248B0A77AECEC196ACCC52973",
    16,
)


def _rs(r: int, s: int, size: int) -> bytes:
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _with_signature(token: str, signature: bytes) -> str:
    header, payload, _ = token.split(".")
    return f"{header}.{payload}.{b64url(signature)}"


@pytest.fixture(scope="module")
def token(es256_key: JWK) -> str:
    return sign_compact(access_claims(sub="admin"), es256_key, typ="at+jwt")


def test_control_the_genuine_signature_verifies(token: str, es256_keys: JWKSet) -> None:
    assert_accepted(token, es256_keys)


def test_es256_all_zero_signature(token: str, es256_keys: JWKSet) -> None:
    assert_refused(_with_signature(token, bytes(64)), es256_keys, BadSignature)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(b"\x30\x06\x02\x01\x00\x02\x01\x00", id="der-r0-s0"),
        pytest.param(bytes(1), id="one-zero-byte"),
        pytest.param(bytes(32), id="32-zero-bytes"),
        pytest.param(bytes(128), id="128-zero-bytes"),
        pytest.param(_rs(0, 1, 32), id="r0-s1"),
        pytest.param(_rs(1, 0, 32), id="r1-s0"),
        pytest.param(_rs(P256_N, P256_N, 32), id="r=n-s=n"),
        pytest.param(_rs(0, P256_N, 32), id="r0-s=n"),
        pytest.param(b"\xff" * 64, id="all-ones"),
    ],
)
def test_es256_degenerate_signatures(signature: bytes, token: str, es256_keys: JWKSet) -> None:
    assert_refused(_with_signature(token, signature), es256_keys, BadSignature)


def test_es384_all_zero_and_order_signatures() -> None:
    key = JWK.generate("ES384")
    keys = JWKSet([key.public()])
    token = sign_compact(access_claims(), key, typ="at+jwt")
    assert_accepted(token, keys)
    for signature in (bytes(96), _rs(P384_N, P384_N, 48)):
        assert_refused(_with_signature(token, signature), keys, BadSignature)
