"""The one verification pipeline (:class:`JWTVerifier`) and the rules that make it serve other
kinds of JWT than access tokens: ``aud`` matched exactly or by shape only, a fixed ``sub``,
``typ`` optional, ``exp`` not enforced."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ostiary.errors import (
    BadSignature,
    Expired,
    InvalidClaim,
    InvalidToken,
    MalformedToken,
    MissingClaim,
    UnknownKey,
    WrongAudience,
    WrongTokenType,
)
from ostiary.jose import (
    JWK,
    AudienceMatch,
    ClaimRules,
    JWKSet,
    JWTVerifier,
    sign_compact,
    verify_access_token,
    verify_jwt,
)
from tests.unit.jose._helpers import (
    AUDIENCE,
    ISSUER,
    LEEWAY,
    NOW,
    access_claims,
    at_header,
    clock,
    rules,
    sign_parts,
)

EXACT = ClaimRules(
    issuer=ISSUER,
    audiences=frozenset({AUDIENCE}),
    audience_match=AudienceMatch.EXACT,
    required=("iss", "sub", "aud", "exp"),
    types=frozenset({"jwt"}),
    subject="user-42",
)
ANY_AUDIENCE = ClaimRules(
    issuer=ISSUER, audiences=frozenset(), audience_match=AudienceMatch.SHAPE_ONLY
)


def verified(token: str, keys: JWKSet, claim_rules: ClaimRules, *, now: float = NOW) -> Any:
    return JWTVerifier(claim_rules).verify(token, keys, now=now)


def refused(token: str, keys: JWKSet, claim_rules: ClaimRules, error: type[InvalidToken]) -> None:
    with pytest.raises(InvalidToken) as info:
        verified(token, keys, claim_rules)
    assert type(info.value) is error, repr(info.value)


@pytest.fixture
def keys(es256_key: JWK) -> JWKSet:
    return JWKSet([es256_key.public()])


def test_verify_access_token_is_the_pipeline() -> None:
    assert verify_access_token is verify_jwt


def test_the_steps_split_around_the_key_lookup(es256_key: JWK, keys: JWKSet) -> None:
    verifier = JWTVerifier(rules())
    parsed = verifier.parse(sign_compact(access_claims(), es256_key, typ="at+jwt"))
    assert parsed.kid == es256_key.kid
    assert verifier.finish(parsed, keys.get(parsed.kid), now=NOW) == access_claims()
    with pytest.raises(UnknownKey):
        verifier.finish(parsed, None, now=NOW)
    with pytest.raises(BadSignature):
        verifier.finish(parsed, JWK.generate("ES256"), now=NOW)


def test_the_size_cap_and_typ_come_before_any_key(es256_key: JWK) -> None:
    token = sign_compact(access_claims(), es256_key, typ="JWT")
    with pytest.raises(WrongTokenType):
        JWTVerifier(rules()).parse(token)
    with pytest.raises(InvalidToken) as info:
        JWTVerifier(rules(), max_size=10).parse(token)
    assert info.value.reason == "too_large"


def test_verify_jwt_reads_the_injected_clock(es256_key: JWK, keys: JWKSet) -> None:
    token = sign_compact(access_claims(exp=NOW + 60), es256_key, typ="at+jwt")
    assert verify_jwt(token, keys, rules(), clock=clock(NOW))["exp"] == NOW + 60
    with pytest.raises(Expired):
        verify_jwt(token, keys, rules(), clock=clock(NOW + 60 + LEEWAY))


# --- aud -------------------------------------------------------------------------------------


def test_exact_audience_accepts_the_one_string(es256_key: JWK, keys: JWKSet) -> None:
    assert verified(sign_compact(access_claims(), es256_key), keys, EXACT)["aud"] == AUDIENCE


@pytest.mark.parametrize(
    "aud",
    [[AUDIENCE], [AUDIENCE, "https://other.example"], "https://other.example", AUDIENCE + "/"],
    ids=["array of it", "array with it", "another", "with a slash"],
)
def test_exact_audience_refuses_anything_else(
    es256_key: JWK, keys: JWKSet, aud: str | list[str]
) -> None:
    refused(sign_compact(access_claims(aud=aud), es256_key), keys, EXACT, WrongAudience)


@pytest.mark.parametrize("aud", ["anything", ["a", "b"]], ids=["string", "array"])
def test_shape_only_accepts_any_audience(
    es256_key: JWK, keys: JWKSet, aud: str | list[str]
) -> None:
    token = sign_compact(access_claims(aud=aud), es256_key, typ="at+jwt")
    assert verified(token, keys, ANY_AUDIENCE)["aud"] == aud


@pytest.mark.parametrize("aud", [[], [""], "", 42, ["a", 1]], ids=repr)
def test_shape_only_refuses_empty_or_malformed_audiences(
    es256_key: JWK, keys: JWKSet, aud: Any
) -> None:
    token = sign_compact(access_claims(aud=aud), es256_key, typ="at+jwt")
    refused(token, keys, ANY_AUDIENCE, InvalidClaim)


@pytest.mark.parametrize(
    ("match", "audiences"),
    [(AudienceMatch.SHAPE_ONLY, frozenset({AUDIENCE})), (AudienceMatch.ONE_OF, frozenset())],
)
def test_audiences_are_given_exactly_when_they_are_compared(
    match: AudienceMatch, audiences: frozenset[str]
) -> None:
    with pytest.raises(ValueError, match="audiences"):
        ClaimRules(issuer=ISSUER, audiences=audiences, audience_match=match)


# --- sub, typ, exp ---------------------------------------------------------------------------


def test_a_fixed_subject_must_match(es256_key: JWK, keys: JWKSet) -> None:
    refused(sign_compact(access_claims(sub="user-43"), es256_key), keys, EXACT, InvalidClaim)
    refused(sign_compact(access_claims(sub=...), es256_key), keys, EXACT, MissingClaim)


def test_typ_may_be_optional_but_never_wrong(es256_key: JWK, keys: JWKSet) -> None:
    optional = dataclasses.replace(EXACT, type_required=False)
    claims = access_claims()
    assert verified(sign_parts(at_header(es256_key, typ=...), claims, es256_key), keys, optional)
    assert verified(sign_parts(at_header(es256_key, typ="JWT"), claims, es256_key), keys, optional)
    for typ in ("at+jwt", None, 1):
        token = sign_parts(at_header(es256_key, typ=typ), claims, es256_key)
        refused(token, keys, optional, WrongTokenType)
    refused(
        sign_parts(at_header(es256_key, typ=...), claims, es256_key), keys, EXACT, WrongTokenType
    )


def test_exp_may_go_unenforced_but_must_be_a_date(es256_key: JWK, keys: JWKSet) -> None:
    lenient = dataclasses.replace(EXACT, verify_exp=False)
    expired = sign_compact(access_claims(exp=NOW - 3600, iat=NOW - 7200), es256_key)
    refused(expired, keys, EXACT, Expired)
    assert verified(expired, keys, lenient)["exp"] == NOW - 3600
    refused(sign_compact(access_claims(exp="later"), es256_key), keys, lenient, InvalidClaim)
    refused(sign_compact(access_claims(exp=None), es256_key), keys, lenient, InvalidClaim)


def test_garbage_is_malformed_whatever_the_rules(keys: JWKSet) -> None:
    refused("not.a.token", keys, ANY_AUDIENCE, MalformedToken)
