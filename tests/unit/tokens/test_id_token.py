"""OpenID Connect ID tokens (Core §2, §3.1.3.6): claims, ``at_hash``, and never an access token."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import WrongTokenType
from ostiary.jose import JWK, JWKSet, parse_compact, sign_compact
from ostiary.resource import TokenVerifier
from ostiary.tokens.id_token import IdTokenHint, IdTokenIssuer, read_id_token_hint, token_hash
from tests.unit.tokens.conftest import T0

ISSUER = "https://auth.example.test"
KEY = JWK.generate("ES256")
ACCESS_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c3JfMSJ9.c2lnbmF0dXJl"


def left_half(hash_function: Callable[[bytes], Any], value: str) -> str:
    digest: bytes = hash_function(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).decode().rstrip("=")


@pytest.fixture
def issuer(clock: FrozenClock) -> IdTokenIssuer:
    return IdTokenIssuer(lambda: KEY, issuer=ISSUER, clock=clock)


def decoded(token: str, key: JWK = KEY) -> tuple[dict[str, Any], dict[str, Any]]:
    parsed = parse_compact(token)
    return parsed.header, parsed.verify(key)


# --- at_hash -----------------------------------------------------------------------------------


def test_at_hash_matches_the_worked_example_of_openid_connect_core() -> None:
    # OpenID Connect Core 1.0 Appendix A.3: an RS256 ID token beside this access token.
    assert token_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256") == (
        "77QmUPtjPfzWtF2AnpK9RQ"
    )


@pytest.mark.parametrize(
    ("alg", "hash_function"),
    [
        ("ES256", hashlib.sha256),
        ("RS256", hashlib.sha256),
        ("PS256", hashlib.sha256),
        ("HS256", hashlib.sha256),
        ("ES384", hashlib.sha384),
        ("RS384", hashlib.sha384),
        ("PS512", hashlib.sha512),
        ("HS512", hashlib.sha512),
        ("EdDSA", hashlib.sha512),  # Ed25519: SHA-512 (Core errata set 2)
    ],
)
def test_at_hash_is_the_left_half_of_the_algorithms_hash(
    alg: str, hash_function: Callable[[bytes], Any]
) -> None:
    expected = left_half(hash_function, ACCESS_TOKEN)
    assert token_hash(ACCESS_TOKEN, alg) == expected
    assert len(base64.urlsafe_b64decode(expected + "=" * (-len(expected) % 4))) == (
        hash_function(b"").digest_size // 2
    )


# --- the token ---------------------------------------------------------------------------------


def test_an_id_token_carries_exactly_the_openid_claims(issuer: IdTokenIssuer) -> None:
    token = issuer.issue(
        subject="usr_1",
        client_id="web",
        auth_time=T0 - 120.7,
        nonce="n-0S6_WzA2Mj",
        access_token=ACCESS_TOKEN,
        session_id="bs_1",
        extra={"preferred_username": "alice"},
    )
    header, claims = decoded(token)
    assert header == {"alg": "ES256", "kid": KEY.kid, "typ": "JWT"}
    assert claims == {
        "iss": ISSUER,
        "sub": "usr_1",
        "aud": "web",
        "exp": int(T0) + 600,
        "iat": int(T0),
        "auth_time": int(T0 - 120.7),
        "nonce": "n-0S6_WzA2Mj",
        "at_hash": left_half(hashlib.sha256, ACCESS_TOKEN),
        "sid": "bs_1",
        "preferred_username": "alice",
    }


def test_optional_claims_are_left_out_when_not_given(issuer: IdTokenIssuer) -> None:
    _, claims = decoded(issuer.issue(subject="usr_1", client_id="web", auth_time=T0))
    assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "auth_time"}


def test_extra_claims_never_override_the_issuers(issuer: IdTokenIssuer) -> None:
    token = issuer.issue(
        subject="usr_1",
        client_id="web",
        auth_time=T0,
        nonce="n",
        extra={"sub": "admin", "aud": "other", "iss": "https://evil", "nonce": "x", "name": "A"},
    )
    _, claims = decoded(token)
    assert (claims["sub"], claims["aud"], claims["iss"]) == ("usr_1", "web", ISSUER)
    assert (claims["nonce"], claims["name"]) == ("n", "A")


def test_the_lifetime_is_configurable_and_positive(clock: FrozenClock) -> None:
    short = IdTokenIssuer(lambda: KEY, issuer=ISSUER, ttl=60, clock=clock)
    _, claims = decoded(short.issue(subject="u", client_id="c", auth_time=T0))
    assert claims["exp"] - claims["iat"] == 60
    for ttl in (0, -1):
        with pytest.raises(ValueError, match="positive"):
            IdTokenIssuer(lambda: KEY, issuer=ISSUER, ttl=ttl, clock=clock)


def test_the_signing_key_is_asked_at_each_issue(clock: FrozenClock) -> None:
    keys = [KEY, JWK.generate("ES384")]
    rotating = IdTokenIssuer(lambda: keys[-1], issuer=ISSUER, clock=clock)
    token = rotating.issue(subject="u", client_id="c", auth_time=T0, access_token=ACCESS_TOKEN)
    header, claims = decoded(token, keys[-1])
    assert (header["alg"], header["kid"]) == ("ES384", keys[-1].kid)
    assert claims["at_hash"] == left_half(hashlib.sha384, ACCESS_TOKEN)


async def test_an_id_token_never_verifies_as_an_access_token(
    issuer: IdTokenIssuer, clock: FrozenClock
) -> None:
    # Even for a resource server whose audience is the client id, and with every access token
    # claim present, typ JWT is not at+jwt (RFC 9068 §4, RFC 8725 §3.11).
    token = issuer.issue(
        subject="usr_1",
        client_id="web",
        auth_time=T0,
        extra={"jti": "j1", "client_id": "web", "scope": "openid"},
    )
    verifier = TokenVerifier(issuer=ISSUER, audience="web", keys=[KEY.public()], clock=clock)
    with pytest.raises(WrongTokenType):
        await verifier.verify(token)
    with pytest.raises(WrongTokenType):
        verifier.verify_sync(token)


# --- as an id_token_hint (RP-Initiated Logout §2) ------------------------------------------


def read_hint(token: str, clock: FrozenClock) -> IdTokenHint | None:
    return read_id_token_hint(token, JWKSet([KEY.public()]), issuer=ISSUER, leeway=30, clock=clock)


def test_a_hint_names_its_client_user_and_session(
    issuer: IdTokenIssuer, clock: FrozenClock
) -> None:
    token = issuer.issue(subject="usr_1", client_id="web", auth_time=T0, session_id="bs_1")
    assert read_hint(token, clock) == IdTokenHint("web", "usr_1", "bs_1", expired=False)


def test_an_expired_hint_still_identifies_but_says_so(
    issuer: IdTokenIssuer, clock: FrozenClock
) -> None:
    token = issuer.issue(subject="usr_1", client_id="web", auth_time=T0)
    clock.advance(issuer.ttl + 29)
    assert read_hint(token, clock) == IdTokenHint("web", "usr_1", None, expired=False)
    clock.advance(1)
    assert read_hint(token, clock) == IdTokenHint("web", "usr_1", None, expired=True)


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://auth.example.test/"},
        {"aud": ["web", "other"]},
        {"aud": ...},
        {"sub": ...},
        {"sid": 42},
        {"typ": "at+jwt"},
        {"key": JWK.generate("ES256")},
    ],
    ids=["issuer", "aud array", "no aud", "no sub", "numeric sid", "access token", "foreign key"],
)
def test_a_hint_that_is_not_one_of_our_id_tokens_identifies_nobody(
    clock: FrozenClock, change: dict[str, Any]
) -> None:
    now = int(clock.now())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "usr_1",
        "aud": "web",
        "exp": now + 60,
        "iat": now,
        "sid": "bs_1",
    }
    claims.update({k: v for k, v in change.items() if k not in ("key", "typ")})
    claims = {k: v for k, v in claims.items() if v is not ...}
    token = sign_compact(claims, change.get("key", KEY), typ=change.get("typ", "JWT"))
    assert read_hint(token, clock) is None
