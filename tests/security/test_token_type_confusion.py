"""Attack: cross-JWT confusion (RFC 8725 §3.11-3.12, RFC 9068 §4). The issuer signs ID tokens,
refresh-style tokens or plain JWTs with the same key as access tokens; any of them replayed
as an access token must be refused by its ``typ`` header (``WrongTokenType``), before the key
is even looked up. ``at+jwt`` and ``application/at+jwt`` are accepted, case-insensitively
(RFC 7515 §4.1.9)."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.errors import WrongTokenType
from ostiary.jose import JWK, JWKSet, sign_compact
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import NOW, access_claims, at_header, sign_parts


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"])
def test_access_token_types_are_accepted(typ: str, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(), es256_key, typ=typ)
    assert assert_accepted(token, es256_keys)["client_id"] == "client-1"


@pytest.mark.parametrize(
    "typ",
    [
        "JWT",
        "jwt",
        "application/jwt",
        "JOSE",
        "id_token+jwt",
        "rt+jwt",
        "refresh+jwt",
        "logout+jwt",
        "dpop+jwt",
        "secevent+jwt",
        "at+jwt ",
        " at+jwt",
        "at+jwt\x00",
        "at+jwt;charset=utf-8",
        "application/at+jwt+json",
        "",
    ],
)
def test_other_types_are_refused(typ: str, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_compact(access_claims(), es256_key, typ=typ)
    assert_refused(token, es256_keys, WrongTokenType)


@pytest.mark.parametrize("typ", [..., None, ["at+jwt"], {"typ": "at+jwt"}, 1], ids=repr)
def test_missing_or_non_string_typ(typ: Any, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_parts(at_header(es256_key, typ=typ), access_claims(), es256_key)
    assert_refused(token, es256_keys, WrongTokenType)


def test_id_token_replayed_as_access_token(es256_key: JWK, es256_keys: JWKSet) -> None:
    # An OpenID Connect ID token with the audience of the API: typ JWT, nonce, auth_time.
    id_token_claims = access_claims(
        nonce="n-0S6_WzA2Mj", auth_time=NOW - 10, azp="client-1", jti=..., client_id=...
    )
    token = sign_compact(id_token_claims, es256_key)  # sign_compact's default typ is JWT
    assert_refused(token, es256_keys, WrongTokenType)


def test_refresh_style_token_replayed_as_access_token(es256_key: JWK, es256_keys: JWKSet) -> None:
    # Every claim of an access token, long-lived, but typed as a refresh token.
    claims = access_claims(exp=NOW + 30 * 86400, token_use="refresh")
    token = sign_compact(claims, es256_key, typ="rt+jwt")
    assert_refused(token, es256_keys, WrongTokenType)


def test_type_is_checked_before_the_key(attacker_key: JWK, es256_keys: JWKSet) -> None:
    # An unknown key and a wrong typ: the cheap header check answers first.
    token = sign_compact(access_claims(), attacker_key, typ="JWT")
    assert_refused(token, es256_keys, WrongTokenType)
