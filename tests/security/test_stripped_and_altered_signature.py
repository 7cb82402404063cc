"""Attack: strip, truncate, alter or transplant a signature, or alter the signed content and
keep the old signature (RFC 7515 §5.2 steps 8-9)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ostiary.errors import BadSignature, MalformedToken
from ostiary.jose import JWK, JWKSet, sign_compact
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import access_claims, b64url, b64url_json, unb64url


@pytest.fixture(scope="module")
def token(es256_key: JWK) -> str:
    return sign_compact(access_claims(), es256_key, typ="at+jwt")


def test_control_the_untouched_token_verifies(token: str, es256_keys: JWKSet) -> None:
    assert assert_accepted(token, es256_keys)["sub"] == "user-42"


def test_stripped_signature_keeping_the_dot(token: str, es256_keys: JWKSet) -> None:
    header, payload, _ = token.split(".")
    assert_refused(f"{header}.{payload}.", es256_keys, MalformedToken)


def test_stripped_signature_and_dot(token: str, es256_keys: JWKSet) -> None:
    header, payload, _ = token.split(".")
    assert_refused(f"{header}.{payload}", es256_keys, MalformedToken)


@pytest.mark.parametrize("index", [0, 17, 31, 32, 63])
def test_one_flipped_bit_in_the_signature(index: int, token: str, es256_keys: JWKSet) -> None:
    header, payload, signature = token.split(".")
    raw = bytearray(unb64url(signature))
    raw[index] ^= 0x01
    assert_refused(f"{header}.{payload}.{b64url(bytes(raw))}", es256_keys, BadSignature)


@pytest.mark.parametrize("length", [1, 32, 63, 65, 128])
def test_truncated_or_extended_signature(length: int, token: str, es256_keys: JWKSet) -> None:
    header, payload, signature = token.split(".")
    raw = (unb64url(signature) * 2)[:length]
    assert_refused(f"{header}.{payload}.{b64url(raw)}", es256_keys, BadSignature)


def test_altered_claims_with_the_original_signature(token: str, es256_keys: JWKSet) -> None:
    header, _, signature = token.split(".")
    forged = b64url_json(access_claims(sub="admin", scope="admin"))
    assert_refused(f"{header}.{forged}.{signature}", es256_keys, BadSignature)


def test_altered_header_with_the_original_signature(
    token: str, es256_key: JWK, es256_keys: JWKSet
) -> None:
    _, payload, signature = token.split(".")
    # Same members, other order: a different signing input, so the signature no longer fits.
    header = b64url_json({"typ": "at+jwt", "kid": es256_key.kid, "alg": "ES256"})
    assert_refused(f"{header}.{payload}.{signature}", es256_keys, BadSignature)


def test_signature_transplanted_from_another_token(
    token: str, es256_key: JWK, es256_keys: JWKSet
) -> None:
    other = sign_compact(access_claims(sub="admin"), es256_key, typ="at+jwt")
    header, payload, _ = other.split(".")
    assert_refused(f"{header}.{payload}.{token.split('.')[2]}", es256_keys, BadSignature)


def test_signed_by_another_key_under_the_trusted_kid(
    es256_key: JWK, attacker_key: JWK, es256_keys: JWKSet
) -> None:
    forged = sign_compact(
        access_claims(),
        attacker_key,
        typ="at+jwt",
        headers={"kid": es256_key.kid},
    )
    assert_refused(forged, es256_keys, BadSignature)


@pytest.mark.parametrize(
    "respell",
    [
        pytest.param(lambda s: s + "=", id="padding"),
        pytest.param(lambda s: s + "==", id="double-padding"),
        pytest.param(lambda s: s.replace("-", "+").replace("_", "/") + "+/", id="std-alphabet"),
        pytest.param(lambda s: s[:40] + " " + s[40:], id="space"),
        pytest.param(lambda s: s[:40] + "\n" + s[40:], id="newline"),
    ],
)
def test_respelled_signature_is_malformed(
    respell: Callable[[str], str], token: str, es256_keys: JWKSet
) -> None:
    header, payload, signature = token.split(".")
    assert_refused(f"{header}.{payload}.{respell(signature)}", es256_keys, MalformedToken)


def test_non_canonical_last_character_is_malformed(token: str, es256_keys: JWKSet) -> None:
    # 64 bytes encode to 86 characters whose last one carries 4 unused bits: setting them
    # gives another spelling of the same bytes, which a strict decoder refuses.
    header, payload, signature = token.split(".")
    assert len(signature) % 4 == 2
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    respelled = signature[:-1] + alphabet[last | 0b0001]
    assert unb64url(respelled) == unb64url(signature)
    assert_refused(f"{header}.{payload}.{respelled}", es256_keys, MalformedToken)
