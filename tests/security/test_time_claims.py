"""Attack: replay of expired tokens, use of tokens before ``nbf``, and tokens minted "in the
future" (a skewed or compromised issuer clock). RFC 7519 §4.1.4-4.1.6 with the default 30 s
leeway, checked at the exact boundaries with a frozen clock."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.errors import Expired, InvalidClaim, InvalidClaims, IssuedInFuture, NotYetValid
from ostiary.jose import DEFAULT_LEEWAY, JWK, JWKSet, sign_compact
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import NOW, access_claims, clock, rules

LEEWAY = int(DEFAULT_LEEWAY)


def _token(key: JWK, **claims: Any) -> str:
    return sign_compact(access_claims(**claims), key, typ="at+jwt")


def test_default_leeway_is_30_seconds() -> None:
    assert DEFAULT_LEEWAY == 30


def test_expired_token(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = _token(es256_key, exp=NOW - 3600, iat=NOW - 7200)
    assert_refused(token, es256_keys, Expired)


def test_expiry_boundary_with_leeway(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = _token(es256_key, exp=NOW, iat=NOW - 300)
    assert_accepted(token, es256_keys, at=clock(NOW + LEEWAY - 1))
    assert_accepted(token, es256_keys, at=clock(NOW + LEEWAY - 0.001))
    assert_refused(token, es256_keys, Expired, at=clock(NOW + LEEWAY))
    assert_refused(token, es256_keys, Expired, at=clock(NOW + LEEWAY + 1))


def test_expiry_without_leeway(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = _token(es256_key, exp=NOW, iat=NOW - 300)
    strict = rules(leeway=0)
    assert_accepted(token, es256_keys, claim_rules=strict, at=clock(NOW - 1))
    assert_refused(token, es256_keys, Expired, claim_rules=strict, at=clock(NOW))


def test_not_yet_valid_boundary(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = _token(es256_key, nbf=NOW + 600, iat=NOW, exp=NOW + 900)
    assert_refused(token, es256_keys, NotYetValid)
    assert_refused(token, es256_keys, NotYetValid, at=clock(NOW + 600 - LEEWAY - 1))
    assert_accepted(token, es256_keys, at=clock(NOW + 600 - LEEWAY))
    assert_accepted(token, es256_keys, at=clock(NOW + 600))


def test_issued_in_the_future_boundary(es256_key: JWK, es256_keys: JWKSet) -> None:
    assert_accepted(_token(es256_key, iat=NOW + LEEWAY), es256_keys)
    assert_refused(_token(es256_key, iat=NOW + LEEWAY + 1), es256_keys, IssuedInFuture)
    assert_refused(_token(es256_key, iat=NOW + 86400), es256_keys, IssuedInFuture)


def test_far_future_token_names_every_failure(es256_key: JWK, es256_keys: JWKSet) -> None:
    # Minted a day ahead and valid only from then: two checks fail, both are reported.
    token = _token(es256_key, iat=NOW + 86400, nbf=NOW + 86400, exp=NOW + 90000)
    error = assert_refused(token, es256_keys, InvalidClaims)
    assert set(error.reasons) == {"not_yet_valid", "issued_in_future"}


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [None, "9999999999", 10**400, -(10**400), 2**53, True, [NOW]])
def test_bogus_time_values_are_refused(
    name: str, value: Any, es256_key: JWK, es256_keys: JWKSet
) -> None:
    # "exp": null once meant "never expires" here; a huge int once raised OverflowError.
    assert_refused(_token(es256_key, **{name: value}), es256_keys, InvalidClaim)
