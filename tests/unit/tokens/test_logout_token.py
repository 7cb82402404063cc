"""Logout Tokens (OpenID Connect Back-Channel Logout 1.0 §2.4): their claims, their type, and
that they never pass as an access token or an ID token (§4.1, Cross-JWT Confusion)."""

from __future__ import annotations

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import WrongAudience, WrongTokenType
from ostiary.jose import JWK, JWKSet, JWTVerifier, parse_compact
from ostiary.resource import TokenVerifier
from ostiary.tokens.id_token import read_id_token_hint
from ostiary.tokens.logout_token import (
    BACKCHANNEL_LOGOUT_EVENT,
    LOGOUT_TOKEN_TYPE,
    LogoutTokenIssuer,
    logout_token_rules,
)
from tests.unit.tokens.conftest import T0

ISSUER = "https://auth.example.test"
KEY = JWK.generate("ES256")


@pytest.fixture
def issuer(clock: FrozenClock) -> LogoutTokenIssuer:
    return LogoutTokenIssuer(lambda: KEY, issuer=ISSUER, clock=clock)


def test_a_logout_token_has_the_claims_of_section_2_4_and_no_nonce(
    issuer: LogoutTokenIssuer,
) -> None:
    token = issuer.issue(client_id="web", subject="usr_1", session_id="bs_1")
    parsed = parse_compact(token)
    claims = parsed.verify(KEY)
    assert parsed.header == {"alg": "ES256", "kid": KEY.kid, "typ": "logout+jwt"}
    assert claims.pop("jti")
    assert claims == {
        "iss": ISSUER,
        "sub": "usr_1",
        "aud": "web",
        "iat": int(T0),
        "exp": int(T0) + 120,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        "sid": "bs_1",
    }
    assert "nonce" not in claims


def test_each_token_has_its_own_jti_and_sid_is_left_out_without_a_browser_session(
    issuer: LogoutTokenIssuer,
) -> None:
    first = parse_compact(issuer.issue(client_id="web", subject="u", session_id=None)).verify(KEY)
    second = parse_compact(issuer.issue(client_id="web", subject="u", session_id=None)).verify(KEY)
    assert first["jti"] != second["jti"]
    assert "sid" not in first
    assert first["sub"] == "u"  # §2.4: sub or sid, and Ostiary always knows the user


def test_the_rules_of_a_relying_party_accept_it_and_only_for_its_client(
    issuer: LogoutTokenIssuer, clock: FrozenClock
) -> None:
    token = issuer.issue(client_id="web", subject="u", session_id="bs_1")
    keys = JWKSet([KEY.public()])
    claims = JWTVerifier(logout_token_rules(ISSUER, "web", leeway=0)).verify(
        token, keys, now=clock.now()
    )
    assert BACKCHANNEL_LOGOUT_EVENT in claims["events"]
    with pytest.raises(WrongAudience):
        JWTVerifier(logout_token_rules(ISSUER, "other", leeway=0)).verify(
            token, keys, now=clock.now()
        )


async def test_it_never_passes_as_an_access_token_or_an_id_token_hint(
    issuer: LogoutTokenIssuer, clock: FrozenClock
) -> None:
    """§4.1: the explicit type keeps it from being taken for another JWT signed by the same
    keys. TokenVerifier wants ``at+jwt``; an ID token hint must be ``JWT`` or untyped."""
    token = issuer.issue(client_id="web", subject="u", session_id="bs_1")
    verifier = TokenVerifier(issuer=ISSUER, audience="web", keys=[KEY.public()], clock=clock)
    with pytest.raises(WrongTokenType):
        await verifier.verify(token)
    with pytest.raises(WrongTokenType):
        verifier.verify_sync(token)
    hint = read_id_token_hint(token, JWKSet([KEY.public()]), issuer=ISSUER, leeway=0, clock=clock)
    assert hint is None
    assert LOGOUT_TOKEN_TYPE == "logout+jwt"


def test_the_lifetime_is_configurable_and_positive(clock: FrozenClock) -> None:
    short = LogoutTokenIssuer(lambda: KEY, issuer=ISSUER, ttl=30, clock=clock)
    claims = parse_compact(short.issue(client_id="c", subject="u", session_id="s")).verify(KEY)
    assert claims["exp"] - claims["iat"] == 30
    for ttl in (0, -5):
        with pytest.raises(ValueError, match="positive"):
            LogoutTokenIssuer(lambda: KEY, issuer=ISSUER, ttl=ttl, clock=clock)
