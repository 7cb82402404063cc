"""Attack: resource exhaustion through size and depth. Tokens over the 8 KiB cap are refused
before any decoding (``TokenTooLarge``); JSON nested beyond 32 levels in the header or the
claims, up to the depth that overflows a recursive parser, is ``MalformedToken``."""

from __future__ import annotations

import json

import pytest

from ostiary.errors import MalformedToken, TokenTooLarge
from ostiary.jose import DEFAULT_MAX_TOKEN_SIZE, JWK, JWKSet, sign_compact, verify_access_token
from tests.security._attacks import assert_accepted, assert_refused, within_timeout
from tests.unit.jose._helpers import (
    access_claims,
    at_header,
    clock,
    nested,
    rules,
    sign_parts,
    sign_raw,
)


def test_default_cap_is_8_kib() -> None:
    assert DEFAULT_MAX_TOKEN_SIZE == 8 * 1024


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_validly_signed_token_over_8_kib(
    as_bytes: bool, es256_key: JWK, es256_keys: JWKSet
) -> None:
    token = sign_compact(access_claims(pad="x" * 6200), es256_key, typ="at+jwt")
    assert len(token) > DEFAULT_MAX_TOKEN_SIZE
    assert_refused(token.encode() if as_bytes else token, es256_keys, TokenTooLarge)


@pytest.mark.parametrize("size", [DEFAULT_MAX_TOKEN_SIZE + 1, 1 << 20, 16 << 20])
def test_huge_junk_is_refused_before_decoding(size: int, es256_keys: JWKSet) -> None:
    assert_refused("eyJ" + "A" * (size - 3), es256_keys, TokenTooLarge)
    assert_refused(b"." * size, es256_keys, TokenTooLarge)


def test_size_cap_boundary(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(pad="x" * 1000), es256_key, typ="at+jwt")
    assert verify_access_token(token, es256_keys, rules(), clock=clock(), max_size=len(token))
    with pytest.raises(TokenTooLarge) as info:
        within_timeout(
            lambda: verify_access_token(
                token, es256_keys, rules(), clock=clock(), max_size=len(token) - 1
            )
        )
    assert info.value.reason == "too_large"


def _header_with(key: JWK, value_json: str) -> str:
    return f'{{"alg":"{key.alg}","kid":"{key.kid}","typ":"at+jwt","x":{value_json}}}'


def _claims_with(value_json: str) -> str:
    return json.dumps(access_claims(), separators=(",", ":"))[:-1] + f',"x":{value_json}}}'


DEEP = {
    "arrays-33": "[" * 32 + "1" + "]" * 32,
    "objects-33": '{"a":' * 32 + "1" + "}" * 32,
    "arrays-2000": "[" * 2000 + "]" * 2000,
    "objects-1000": '{"":' * 1000 + "1" + "}" * 1000,
    "mixed-1000": '[{"":' * 500 + "1" + "}]" * 500,
}


@pytest.mark.parametrize("shape", DEEP)
def test_deeply_nested_header(shape: str, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_raw(_header_with(es256_key, DEEP[shape]), _claims_with("1"), es256_key)
    assert len(token) <= DEFAULT_MAX_TOKEN_SIZE
    assert_refused(token, es256_keys, MalformedToken)


@pytest.mark.parametrize("shape", DEEP)
def test_deeply_nested_claims(shape: str, es256_key: JWK, es256_keys: JWKSet) -> None:
    # Correctly signed, so only the nesting is wrong.
    token = sign_raw(_header_with(es256_key, "1"), _claims_with(DEEP[shape]), es256_key)
    assert len(token) <= DEFAULT_MAX_TOKEN_SIZE
    assert_refused(token, es256_keys, MalformedToken)


def test_control_nesting_of_32_levels_is_accepted(es256_key: JWK, es256_keys: JWKSet) -> None:
    # The claims object is level 1, so 31 arrays inside it make 32 levels.
    header = at_header(es256_key, x=nested(31))
    token = sign_parts(header, access_claims(x=nested(31)), es256_key)
    assert assert_accepted(token, es256_keys)["x"] == nested(31)
    too_deep = sign_parts(at_header(es256_key), access_claims(x=nested(32)), es256_key)
    assert_refused(too_deep, es256_keys, MalformedToken)
