"""Property tests: whatever arrives as a token, ``verify_access_token`` either returns the
claims of a genuine, valid token or raises an :class:`~ostiary.errors.InvalidToken`; never
another exception, and never success for anything but the untouched token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ostiary.errors import InvalidToken
from ostiary.jose import ALGORITHMS, JWK, JWKSet, sign_compact, verify_access_token
from ostiary.jose.claims import _collect_errors, _looks_valid, validate_claims
from tests.unit.jose._helpers import (
    AUDIENCE,
    ISSUER,
    NOW,
    access_claims,
    b64url,
    b64url_json,
    clock,
    rules,
    sign_parts,
    unb64url,
)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SIGNER_ALGS = ("ES256", "EdDSA", "HS256")
#: Characters a mutation inserts: the token alphabet, the separator, and some hostile ones.
MUTATION_CHARS = st.sampled_from(B64_ALPHABET + ".=+/ \n\x00é")

# JSON values, with the numbers that broke things before (huge ints, floats, booleans).
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([0, -1, NOW, NOW + 10**6, 2**53, 2**63, 10**400, -(10**400)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


@pytest.fixture(scope="module")
def signers(keys_by_alg: dict[str, JWK]) -> list[JWK]:
    return [keys_by_alg[alg] for alg in SIGNER_ALGS]


@pytest.fixture(scope="module")
def keyset(signers: list[JWK]) -> JWKSet:
    return JWKSet([key.public() for key in signers])


@pytest.fixture(scope="module")
def tokens(signers: list[JWK]) -> list[str]:
    # Distinct payloads, so that moving a segment between tokens always changes something.
    return [sign_compact(access_claims(sub=key.alg), key, typ="at+jwt") for key in signers]


def _verify(token: str | bytes, keyset: JWKSet) -> dict[str, Any]:
    return verify_access_token(token, keyset, rules(), clock=clock())


def _refused(token: str | bytes, keyset: JWKSet) -> InvalidToken:
    """Any exception other than InvalidToken propagates and fails the test."""
    with pytest.raises(InvalidToken) as info:
        _verify(token, keyset)
    assert info.value.reason
    return info.value


def test_control_untouched_tokens_verify(tokens: list[str], keyset: JWKSet) -> None:
    for token, alg in zip(tokens, SIGNER_ALGS, strict=True):
        assert _verify(token, keyset) == access_claims(sub=alg)


# --- random input ---------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=9000))
def test_random_bytes(data: bytes, keyset: JWKSet) -> None:
    _refused(data, keyset)


@FUZZ
@given(text=st.text(max_size=300))
def test_random_text(text: str, keyset: JWKSet) -> None:
    _refused(text, keyset)


@FUZZ
@given(segments=st.lists(st.text(alphabet=B64_ALPHABET, max_size=120), max_size=6))
def test_random_token_shaped_text(segments: list[str], keyset: JWKSet) -> None:
    _refused(".".join(segments), keyset)


@FUZZ
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku", "jwk", "b64", "zip", "enc", "x"]),
        JSON_VALUES | st.sampled_from([*ALGORITHMS, "none", "at+jwt"]),
    ),
    claims=JSON_VALUES,
    signature=st.binary(max_size=300),
)
def test_random_headers_and_claims_with_random_signature(
    header: dict[str, Any], claims: Any, signature: bytes, keyset: JWKSet
) -> None:
    _refused(f"{b64url_json(header)}.{b64url_json(claims)}.{b64url(signature)}", keyset)


# --- mutated valid tokens -------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_flipped_character(data: st.DataObject, tokens: list[str], keyset: JWKSet) -> None:
    token = data.draw(st.sampled_from(tokens))
    index = data.draw(st.integers(0, len(token) - 1))
    char = data.draw(MUTATION_CHARS)
    assume(char != token[index])
    _refused(token[:index] + char + token[index + 1 :], keyset)


@FUZZ
@given(data=st.data())
def test_inserted_characters(data: st.DataObject, tokens: list[str], keyset: JWKSet) -> None:
    token = data.draw(st.sampled_from(tokens))
    index = data.draw(st.integers(0, len(token)))
    chars = data.draw(st.text(MUTATION_CHARS, min_size=1, max_size=4))
    _refused(token[:index] + chars + token[index:], keyset)


@FUZZ
@given(data=st.data())
def test_deleted_characters(data: st.DataObject, tokens: list[str], keyset: JWKSet) -> None:
    token = data.draw(st.sampled_from(tokens))
    start = data.draw(st.integers(0, len(token) - 1))
    length = data.draw(st.integers(1, 8))
    _refused(token[:start] + token[start + length :], keyset)


@FUZZ
@given(
    data=st.data(),
    order=st.lists(st.integers(0, 2), min_size=1, max_size=6).filter(lambda o: o != [0, 1, 2]),
)
def test_swapped_or_repeated_segments(
    data: st.DataObject, order: list[int], tokens: list[str], keyset: JWKSet
) -> None:
    segments = data.draw(st.sampled_from(tokens)).split(".")
    _refused(".".join(segments[i] for i in order), keyset)


@FUZZ
@given(data=st.data())
def test_segments_from_two_tokens(data: st.DataObject, tokens: list[str], keyset: JWKSet) -> None:
    first, second = data.draw(st.permutations(tokens))[:2]
    which = data.draw(st.sampled_from([0, 1, 2]))
    parts = first.split(".")
    parts[which] = second.split(".")[which]
    _refused(".".join(parts), keyset)


@FUZZ
@given(
    data=st.data(),
    alg=st.sampled_from([*ALGORITHMS, "none", "None", "NONE", "nOnE", "", "HS1"])
    | st.text(max_size=8),
)
def test_header_re_encoded_with_another_alg(
    data: st.DataObject, alg: str, tokens: list[str], keyset: JWKSet
) -> None:
    token = data.draw(st.sampled_from(tokens))
    header_b64, payload, signature = token.split(".")
    header = json.loads(unb64url(header_b64))
    assume(alg != header["alg"])
    header["alg"] = alg
    _refused(f"{b64url_json(header)}.{payload}.{signature}", keyset)


@FUZZ
@given(
    data=st.data(),
    extra=st.dictionaries(st.text(max_size=6), JSON_VALUES, min_size=1, max_size=3),
)
def test_header_re_encoded_with_extra_members(
    data: st.DataObject, extra: dict[str, Any], tokens: list[str], keyset: JWKSet
) -> None:
    token = data.draw(st.sampled_from(tokens))
    header_b64, payload, signature = token.split(".")
    header = {**json.loads(unb64url(header_b64)), **extra}
    _refused(f"{b64url_json(header)}.{payload}.{signature}", keyset)


# --- claims: correctly signed, arbitrary content --------------------------------------------

#: Values that have slipped through claim checks in some implementation or other.
BOGUS: st.SearchStrategy[Any] = st.sampled_from(
    [None, True, False, 10**400, -(10**400), 2**53, "", "x", [], {}, -1.5]
)
CLAIM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    name: st.one_of(valid, BOGUS, JSON_VALUES)
    for name, valid in {
        "iss": st.sampled_from([ISSUER, ISSUER + "/", ISSUER.upper(), [ISSUER]]),
        "aud": st.sampled_from([AUDIENCE, [AUDIENCE], ["x", AUDIENCE], [], ["x"]]),
        "exp": st.integers(NOW - 100, NOW + 100) | st.floats(NOW - 100, NOW + 100),
        "nbf": st.integers(NOW - 100, NOW + 100),
        "iat": st.integers(NOW - 100, NOW + 100),
        "sub": st.just("u"),
        "jti": st.just("j"),
        "client_id": st.just("c"),
        "scope": st.just("read"),
        "sid": st.just("s"),
        "roles": st.just(["admin"]),
    }.items()
}


@st.composite
def claims_sets(draw: st.DrawFn) -> dict[str, Any]:
    """A valid claims set with up to three members replaced or removed, so that valid,
    nearly valid and invalid sets all come up often."""
    claims = access_claims()
    for name in draw(st.lists(st.sampled_from(sorted(CLAIM_VALUES)), max_size=3, unique=True)):
        value = draw(st.just(...) | CLAIM_VALUES[name])
        if value is ...:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


CLAIMS = claims_sets()


@FUZZ
@given(claims=CLAIMS, now=st.integers(NOW - 200, NOW + 200) | st.floats(NOW - 200, NOW + 200))
def test_fast_path_never_accepts_what_the_full_check_refuses(
    claims: dict[str, Any], now: float
) -> None:
    r = rules()
    errors = _collect_errors(claims, r, now)
    if _looks_valid(claims, r, now):
        assert errors == []
    try:
        validate_claims(claims, r, now=now)
    except InvalidToken:
        assert errors
    else:
        assert not errors


@FUZZ
@given(claims=CLAIMS)
def test_signed_arbitrary_claims(
    claims: dict[str, Any], signers: list[JWK], keyset: JWKSet
) -> None:
    key = signers[0]
    token = sign_parts({"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}, claims, key)
    try:
        verified = _verify(token, keyset)
    except InvalidToken:
        assert _collect_errors(claims, rules(), NOW) or len(token) > 8192
    else:
        assert verified == claims
        assert _collect_errors(claims, rules(), NOW) == []
