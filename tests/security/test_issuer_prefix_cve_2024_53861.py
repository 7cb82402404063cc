"""Attack: an issuer that only partly matches (CVE-2024-53861 in PyJWT 2.10.0 compared ``iss``
as a substring, so ``"acb"`` passed for ``"__acb__"``). RFC 8725 §3.8 asks for an exact
comparison: every prefix, substring, superstring, case or normalization variant is
``WrongIssuer``, and so is ``iss`` as an array that contains the issuer."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.errors import MissingClaim, WrongIssuer
from ostiary.jose import JWK, JWKSet, sign_compact
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import ISSUER, access_claims

assert ISSUER == "https://auth.example.com"

NEAR_MISSES = [
    "https://auth.example",  # prefix
    "https://auth",  # prefix
    "auth.example.com",  # substring
    "example.com",  # substring
    "",  # the empty string is a substring of everything
    "https://auth.example.com/",  # trailing slash
    "https://auth.example.com.evil.example",  # superstring: subdomain of the attacker
    "https://auth.example.com@evil.example",  # userinfo trick
    "https://auth.example.com/../evil",
    "https://auth.example.com#",
    "https://auth.example.com ",
    " https://auth.example.com",
    "https://auth.example.com\x00",
    "_https://auth.example.com_",
    "HTTPS://AUTH.EXAMPLE.COM",  # different case
    "https://Auth.Example.com",
    "http://auth.example.com",  # other scheme
    "https://auth.example.com:443",  # same origin, other spelling
    "https://auth.\u0435xample.com",  # Cyrillic small letter ie for "e"
    "https://auth.example.com\u200b",  # zero-width space
]


def test_control_exact_issuer_is_accepted(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(), es256_key, typ="at+jwt")
    assert assert_accepted(token, es256_keys)["iss"] == ISSUER


@pytest.mark.parametrize("iss", NEAR_MISSES, ids=repr)
def test_near_miss_issuer(iss: str, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(iss=iss), es256_key, typ="at+jwt")
    assert_refused(token, es256_keys, WrongIssuer)


@pytest.mark.parametrize(
    "iss", [[ISSUER], [ISSUER, "https://evil.example"], {"iss": ISSUER}, None, 1], ids=repr
)
def test_issuer_of_the_wrong_type(iss: Any, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(iss=iss), es256_key, typ="at+jwt")
    assert_refused(token, es256_keys, WrongIssuer)


def test_missing_issuer(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(iss=...), es256_key, typ="at+jwt")
    assert_refused(token, es256_keys, MissingClaim)
