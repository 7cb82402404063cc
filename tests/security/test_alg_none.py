"""Attack: ``alg: none`` (RFC 7518 §3.6, RFC 8725 §2.1) in any spelling, with and without a
signature; the classic bypass of verifiers that let the token choose its algorithm."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.errors import DisallowedAlgorithm, InvalidKey, MalformedToken
from ostiary.jose import JWK, JWKSet, sign_compact
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import access_claims, at_header, b64url, unsigned_token

NONE_SPELLINGS = ["none", "None", "NONE", "nOnE"]


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_with_empty_signature(alg: str, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = unsigned_token(at_header(es256_key, alg=alg), access_claims())
    assert token.endswith(".")
    assert_refused(token, es256_keys, DisallowedAlgorithm)


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_with_a_real_signature_attached(
    alg: str, es256_key: JWK, es256_keys: JWKSet
) -> None:
    # Take a valid token and only swap its header for alg none: the signature is genuine.
    valid = sign_compact(access_claims(), es256_key, typ="at+jwt")
    _, payload, signature = valid.split(".")
    header = unsigned_token(at_header(es256_key, alg=alg), {}).split(".")[0]
    assert_refused(f"{header}.{payload}.{signature}", es256_keys, DisallowedAlgorithm)
    assert_accepted(valid, es256_keys)


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_with_a_junk_signature(alg: str, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = unsigned_token(at_header(es256_key, alg=alg), access_claims(), b64url(b"x" * 64))
    assert_refused(token, es256_keys, DisallowedAlgorithm)


def test_alg_none_without_kid_against_a_set_of_one(es256_key: JWK, es256_keys: JWKSet) -> None:
    # With one key, a token without kid selects that key; alg none must still be refused.
    token = unsigned_token(at_header(es256_key, alg="none", kid=...), access_claims())
    assert_refused(token, es256_keys, DisallowedAlgorithm)


@pytest.mark.parametrize(
    "alg",
    [..., None, "", ["ES256"], {"alg": "ES256"}, 256, True, "ES256 ", " ES256", "es256", "HS1"],
    ids=repr,
)
def test_missing_or_non_string_or_unknown_alg(alg: Any, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = unsigned_token(at_header(es256_key, alg=alg), access_claims(), b64url(b"s" * 64))
    assert_refused(token, es256_keys, DisallowedAlgorithm)


def test_allowed_alg_with_empty_signature_is_malformed(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = unsigned_token(at_header(es256_key), access_claims())
    assert_refused(token, es256_keys, MalformedToken)


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_no_key_can_be_made_for_alg_none(alg: str) -> None:
    with pytest.raises(InvalidKey):
        JWK.generate(alg)
    with pytest.raises(InvalidKey):
        JWK.from_secret(b"k" * 64, alg=alg)
    with pytest.raises(InvalidKey):
        JWK.from_dict({"kty": "oct", "k": b64url(b"k" * 64), "alg": alg})
