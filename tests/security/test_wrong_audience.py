"""Attack: a token issued for another resource server (RFC 8725 §3.9, RFC 9068 §4): the same
issuer and key, so only ``aud`` tells them apart. ``aud`` must equal, or be an array containing,
one of the accepted audiences, compared exactly."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.errors import InvalidClaim, MissingClaim, WrongAudience
from ostiary.jose import JWK, JWKSet, sign_compact
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import AUDIENCE, access_claims, rules

assert AUDIENCE == "https://api.example.com"


@pytest.mark.parametrize(
    "aud",
    [AUDIENCE, [AUDIENCE], ["https://other.example", AUDIENCE]],
    ids=repr,
)
def test_control_matching_audience(aud: Any, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(aud=aud), es256_key, typ="at+jwt")
    assert assert_accepted(token, es256_keys)["aud"] == aud


@pytest.mark.parametrize(
    "aud",
    [
        "https://other.example.com",
        "https://api.example",
        "https://api.example.com/",
        "https://api.example.com.evil.example",
        "https://API.example.com",
        "api.example.com",
        "",
        [],
        ["https://other.example.com"],
        ["https://api.example", "https://example.com"],
        ["https://API.EXAMPLE.COM"],
    ],
    ids=repr,
)
def test_wrong_audience(aud: Any, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(aud=aud), es256_key, typ="at+jwt")
    assert_refused(token, es256_keys, WrongAudience)


@pytest.mark.parametrize(
    "aud", [None, 1, True, {"aud": AUDIENCE}, [AUDIENCE, 1], [[AUDIENCE]], [None]], ids=repr
)
def test_audience_of_the_wrong_type(aud: Any, es256_key: JWK, es256_keys: JWKSet) -> None:
    # "aud": null once skipped the audience check altogether.
    token = sign_compact(access_claims(aud=aud), es256_key, typ="at+jwt")
    assert_refused(token, es256_keys, InvalidClaim)


def test_missing_audience(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(aud=...), es256_key, typ="at+jwt")
    assert_refused(token, es256_keys, MissingClaim)


def test_token_for_one_api_is_refused_by_the_other(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(aud="https://billing.example.com"), es256_key, typ="at+jwt")
    billing = rules(audience="https://billing.example.com")
    assert_accepted(token, es256_keys, claim_rules=billing)
    assert_refused(token, es256_keys, WrongAudience)
    either = rules(audience=[AUDIENCE, "https://billing.example.com"])
    assert_accepted(token, es256_keys, claim_rules=either)
