"""Attack: a hostile ``kid`` (path traversal, ``/dev/null`` whose content is an empty HMAC key,
SQL injection, control characters) aimed at verifiers that use ``kid`` to build a file path or
a query. Here ``kid`` is only a dictionary key into the verifier's own set: anything unknown is
``UnknownKey``, anything that is not a string is ``MalformedToken``."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.errors import AlgorithmMismatch, MalformedToken, UnknownKey
from ostiary.jose import JWK, JWKSet
from tests.security._attacks import assert_refused
from tests.unit.jose._helpers import access_claims, at_header, hmac_token, sign_parts

HOSTILE_KIDS = [
    "../../etc/passwd",
    "../../../../../../dev/null",
    "/dev/null",
    "/proc/self/environ",
    "file:///etc/passwd",
    "' OR 1=1 --",
    "x' UNION SELECT 'secret' --",
    '"; DROP TABLE signing_keys; --',
    "$(touch /tmp/pwned)",
    "kid\x00.pem",
    "\r\nSet-Cookie: a=b",
    "",
    "k" * 4096,
]


@pytest.fixture(scope="module")
def two_keys(es256_key: JWK, eddsa_key: JWK) -> JWKSet:
    # With more than one key a token must name one; with one key, an unknown kid still fails.
    return JWKSet([es256_key.public(), eddsa_key.public()])


@pytest.mark.parametrize("kid", HOSTILE_KIDS, ids=lambda k: repr(k)[:40])
def test_hostile_kid_with_empty_hmac_key(kid: str, two_keys: JWKSet, es256_keys: JWKSet) -> None:
    # The /dev/null trick: an HMAC token keyed with the (empty) content of the named file.
    token = hmac_token({"alg": "HS256", "kid": kid, "typ": "at+jwt"}, access_claims(), b"")
    assert_refused(token, two_keys, UnknownKey)
    assert_refused(token, es256_keys, UnknownKey)


@pytest.mark.parametrize("kid", HOSTILE_KIDS, ids=lambda k: repr(k)[:40])
def test_hostile_kid_signed_by_attacker_key(
    kid: str, attacker_key: JWK, two_keys: JWKSet, es256_keys: JWKSet
) -> None:
    token = sign_parts(at_header(attacker_key, kid=kid), access_claims(), attacker_key)
    assert_refused(token, two_keys, UnknownKey)
    assert_refused(token, es256_keys, UnknownKey)


@pytest.mark.parametrize("kid", [None, 0, 1, True, ["x"], {"kid": "x"}], ids=repr)
def test_non_string_kid_is_malformed(kid: Any, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_parts(at_header(es256_key, kid=kid), access_claims(), es256_key)
    assert_refused(token, es256_keys, MalformedToken)


def test_kid_of_a_trusted_key_with_an_hmac_signature(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = hmac_token(at_header(es256_key, alg="HS256"), access_claims(), b"")
    assert_refused(token, es256_keys, AlgorithmMismatch)


def test_missing_kid_with_several_keys_is_unknown(es256_key: JWK, two_keys: JWKSet) -> None:
    token = sign_parts(at_header(es256_key, kid=...), access_claims(), es256_key)
    assert_refused(token, two_keys, UnknownKey)
