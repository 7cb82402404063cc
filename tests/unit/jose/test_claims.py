"""Claim validation (RFC 7519 §4.1, RFC 9068 §4) with an injected clock."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey

from ostiary.clock import FrozenClock
from ostiary.errors import (
    Expired,
    InvalidClaim,
    InvalidClaims,
    InvalidToken,
    IssuedInFuture,
    MissingClaim,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
)
from ostiary.jose import (
    ACCESS_TOKEN_CLAIMS,
    ACCESS_TOKEN_TYPES,
    DEFAULT_LEEWAY,
    JWK,
    ClaimRules,
    JWKSet,
    check_type,
    sign_compact,
    validate_claims,
    verify_access_token,
)
from tests.unit.jose._helpers import (
    AUDIENCE,
    ISSUER,
    LEEWAY,
    NOW,
    access_claims,
    clock,
    rules,
)


def _refused(claims: dict[str, Any], error: type[InvalidToken], **kw: Any) -> InvalidToken:
    at = kw.pop("now", NOW)
    with pytest.raises(InvalidToken) as info:
        validate_claims(claims, kw.pop("claim_rules", rules()), now=FrozenClock(at).now())
    assert type(info.value) is error, repr(info.value)
    assert info.value.reason == error.reason
    assert info.value.reasons == (error.reason,)
    return info.value


def _ok(claims: dict[str, Any], *, now: float = NOW, claim_rules: ClaimRules | None = None) -> None:
    validate_claims(claims, claim_rules or rules(), now=FrozenClock(now).now())


# --- rules ----------------------------------------------------------------------------------


def test_rules_for_access_tokens() -> None:
    r = ClaimRules.for_access_tokens(issuer=ISSUER, audience=AUDIENCE)
    assert r.audiences == frozenset({AUDIENCE})
    assert r.leeway == DEFAULT_LEEWAY == 30
    assert r.required == ACCESS_TOKEN_CLAIMS
    assert set(ACCESS_TOKEN_CLAIMS) == {"iss", "sub", "aud", "exp", "iat", "jti", "client_id"}
    assert r.types == ACCESS_TOKEN_TYPES == {"at+jwt", "application/at+jwt"}
    assert ClaimRules.for_access_tokens(issuer=ISSUER, audience=["a", "b"]).audiences == {
        "a",
        "b",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": "", "audience": AUDIENCE},
        {"issuer": ISSUER, "audience": []},
        {"issuer": ISSUER, "audience": ""},
        {"issuer": ISSUER, "audience": ["a", ""]},
        {"issuer": ISSUER, "audience": AUDIENCE, "leeway": -1},
        {"issuer": ISSUER, "audience": AUDIENCE, "leeway": 301},
    ],
    ids=repr,
)
def test_rules_refuse_unsafe_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ClaimRules.for_access_tokens(**kwargs)


# --- each check -----------------------------------------------------------------------------


def test_valid_claims_pass() -> None:
    _ok(access_claims())
    _ok(access_claims(nbf=NOW, roles=["admin"], sid="s", aud=["x", AUDIENCE]))
    _ok(access_claims(exp=NOW + 300.5, iat=NOW - 0.5))  # NumericDate may be non-integer
    _ok(access_claims(scope=...))  # scope is optional


@pytest.mark.parametrize("name", ACCESS_TOKEN_CLAIMS)
def test_each_required_claim(name: str) -> None:
    removed: dict[str, Any] = {name: ...}
    error = _refused(access_claims(**removed), MissingClaim)
    assert error.detail == f"missing {name}"


def test_missing_claims_are_named_together() -> None:
    error = _refused(access_claims(jti=..., client_id=...), MissingClaim)
    assert error.detail == "missing jti, client_id"


@pytest.mark.parametrize(
    "iss", ["https://auth.example.com/", "https://auth.example", "HTTPS://AUTH.EXAMPLE.COM"]
)
def test_issuer_is_compared_exactly(iss: str) -> None:
    _refused(access_claims(iss=iss), WrongIssuer)


def test_audience_string_or_list() -> None:
    _ok(access_claims(aud=AUDIENCE))
    _ok(access_claims(aud=[AUDIENCE]))
    _ok(access_claims(aud="b"), claim_rules=rules(audience=["a", "b"]))
    _ok(access_claims(aud=["z", "a"]), claim_rules=rules(audience=["a", "b"]))
    _refused(access_claims(aud="other"), WrongAudience)
    _refused(access_claims(aud=["other", "another"]), WrongAudience)
    _refused(access_claims(aud=[]), WrongAudience)
    _refused(access_claims(aud=["a"]), WrongAudience, claim_rules=rules(audience="b"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sub", 42),
        ("sub", None),
        ("jti", ["x"]),
        ("client_id", {"id": "c"}),
        ("scope", ["read"]),
        ("sid", 1),
        ("roles", "admin"),
        ("roles", ["admin", 1]),
        ("roles", None),
        ("aud", None),
        ("aud", 7),
        ("aud", [AUDIENCE, None]),
        ("aud", {"aud": AUDIENCE}),
    ],
    ids=repr,
)
def test_wrong_types(name: str, value: Any) -> None:
    _refused(access_claims(**{name: value}), InvalidClaim)


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        "1700000000",
        [NOW],
        {"t": NOW},
        float("nan"),
        float("inf"),
        float("-inf"),
        2**53,
        -(2**53),
        10**400,
        -(10**400),
        1e308,
    ],
    ids=repr,
)
def test_bogus_numeric_dates(name: str, value: Any) -> None:
    # Never anything but an InvalidToken: 10**400 once escaped as OverflowError, and a JSON
    # null once skipped the check (an "exp": null token never expired).
    _refused(access_claims(**{name: value}), InvalidClaim)


def test_expiry_boundary() -> None:
    claims = access_claims(exp=NOW, iat=NOW - 100)
    _ok(claims, now=NOW + LEEWAY - 1)
    _ok(claims, now=NOW + LEEWAY - 0.5)
    _refused(claims, Expired, now=NOW + LEEWAY)
    _refused(claims, Expired, now=NOW + LEEWAY + 0.5)
    _ok(claims, now=NOW - 1, claim_rules=rules(leeway=0))
    _refused(claims, Expired, now=NOW, claim_rules=rules(leeway=0))


def test_not_before_boundary() -> None:
    claims = access_claims(nbf=NOW + 100)
    _ok(claims, now=NOW + 100 - LEEWAY)
    _refused(claims, NotYetValid, now=NOW + 100 - LEEWAY - 0.5)
    _refused(claims, NotYetValid, now=NOW + 100 - LEEWAY - 1)
    _refused(claims, NotYetValid, now=NOW + 99, claim_rules=rules(leeway=0))
    _ok(claims, now=NOW + 100, claim_rules=rules(leeway=0))


def test_issued_at_boundary() -> None:
    _ok(access_claims(iat=NOW + LEEWAY))
    _refused(access_claims(iat=NOW + LEEWAY + 1), IssuedInFuture)
    _refused(access_claims(iat=NOW + LEEWAY + 0.5), IssuedInFuture)
    _refused(access_claims(iat=NOW + 1), IssuedInFuture, claim_rules=rules(leeway=0))
    _ok(access_claims(iat=0))  # an old iat alone is not an error; exp decides


def test_frozen_clock_moves() -> None:
    claims = access_claims(exp=NOW + 10)
    moving = FrozenClock(NOW)
    validate_claims(claims, rules(leeway=0), now=moving.now())
    moving.advance(10)
    with pytest.raises(Expired):
        validate_claims(claims, rules(leeway=0), now=moving.now())
    moving.set(NOW)
    validate_claims(claims, rules(leeway=0), now=moving.now())


# --- several failures at once ---------------------------------------------------------------


def test_several_failures_are_all_reported() -> None:
    claims = access_claims(
        iss="https://evil.example",
        aud="https://other.example",
        exp=NOW - 3600,
        iat=NOW + 3600,
        nbf=NOW + 3600,
        sub=42,
        jti=...,
    )
    with pytest.raises(InvalidClaims) as info:
        validate_claims(claims, rules(), now=NOW)
    error = info.value
    assert error.reason == "invalid_claims"
    assert error.reasons == (
        "missing_claim",
        "invalid_claim",
        "wrong_issuer",
        "wrong_audience",
        "expired",
        "not_yet_valid",
        "issued_in_future",
    )
    assert [type(e) for e in error.errors] == [
        MissingClaim,
        InvalidClaim,
        WrongIssuer,
        WrongAudience,
        Expired,
        NotYetValid,
        IssuedInFuture,
    ]
    assert error.detail is not None and "wrong_issuer" in error.detail
    assert error.status_code == 401 and error.error == "invalid_token"


def test_two_failures() -> None:
    with pytest.raises(InvalidClaims) as info:
        validate_claims(access_claims(iss="x", exp=NOW - 100), rules(), now=NOW)
    assert info.value.reasons == ("wrong_issuer", "expired")


def test_type_and_time_failures_of_the_same_claim() -> None:
    with pytest.raises(InvalidClaims) as info:
        validate_claims(access_claims(exp="soon", iat=NOW + 999), rules(), now=NOW)
    assert info.value.reasons == ("invalid_claim", "issued_in_future")


# --- typ --------------------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_check_type_accepts(typ: str) -> None:
    check_type({"typ": typ}, ACCESS_TOKEN_TYPES)


@pytest.mark.parametrize("header", [{}, {"typ": "JWT"}, {"typ": None}, {"typ": ["at+jwt"]}])
def test_check_type_refuses(header: dict[str, Any]) -> None:
    with pytest.raises(WrongTokenType):
        check_type(header, ACCESS_TOKEN_TYPES)


# --- verify_access_token always validates claims ---------------------------------------------


@pytest.fixture(scope="module")
def verifier(es256_key: JWK) -> JWKSet:
    return JWKSet([es256_key.public()])


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"exp": NOW - 3600, "iat": NOW - 7200}, Expired),
        ({"iss": "https://evil.example"}, WrongIssuer),
        ({"aud": "https://other.example"}, WrongAudience),
        ({"nbf": NOW + 3600}, NotYetValid),
        ({"iat": NOW + 3600}, IssuedInFuture),
        ({"jti": ...}, MissingClaim),
        ({"exp": None}, InvalidClaim),
        ({"exp": 10**400}, InvalidClaim),
    ],
    ids=repr,
)
def test_verify_access_token_validates_the_claims(
    overrides: dict[str, Any], error: type[InvalidToken], es256_key: JWK, verifier: JWKSet
) -> None:
    token = sign_compact(access_claims(**overrides), es256_key, typ="at+jwt")
    with pytest.raises(InvalidToken) as info:
        verify_access_token(token, verifier, rules(), clock=clock())
    assert type(info.value) is error


def test_joserfc_alone_does_not_validate_claims(es256_key: JWK, verifier: JWKSet) -> None:
    # Why the wrapper exists: joserfc decodes an expired, foreign token without complaint.
    claims = access_claims(exp=NOW - 3600, iss="https://evil.example", aud="https://other")
    token = sign_compact(claims, es256_key, typ="at+jwt")
    decoded = joserfc_jwt.decode(
        token, ECKey.import_key(es256_key.public_dict()), algorithms=["ES256"]
    )
    assert decoded.claims == claims
    with pytest.raises(InvalidClaims) as info:
        verify_access_token(token, verifier, rules(), clock=clock())
    assert info.value.reasons == ("wrong_issuer", "wrong_audience", "expired")


def test_verify_access_token_uses_the_injected_clock(es256_key: JWK, verifier: JWKSet) -> None:
    token = sign_compact(access_claims(exp=NOW + 60), es256_key, typ="at+jwt")
    assert verify_access_token(token, verifier, rules(), clock=clock(NOW))["exp"] == NOW + 60
    with pytest.raises(Expired):
        verify_access_token(token, verifier, rules(), clock=clock(NOW + 60 + LEEWAY))
    with pytest.raises(Expired):  # the default clock is the real one, long past NOW + 60
        verify_access_token(token, verifier, rules())
