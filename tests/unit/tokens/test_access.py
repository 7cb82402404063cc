"""``AccessTokenIssuer``: RFC 9068 JWT access tokens."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.access_claims import AccessClaims
from ostiary.clock import FrozenClock
from ostiary.errors import Expired
from ostiary.jose import ClaimRules, parse_compact, verify_access_token
from ostiary.keys import KeyRing, KeyState, generate_key
from ostiary.tokens import AccessTokenIssuer
from tests.unit.tokens.conftest import T0

ISSUER = "https://auth.example.test"
AUDIENCE = "https://api.example.test"


@pytest.fixture
def ring(clock: FrozenClock) -> KeyRing:
    ring = KeyRing(clock=clock)
    ring.add(generate_key(), state=KeyState.ACTIVE)
    return ring


@pytest.fixture
def issuer(ring: KeyRing, clock: FrozenClock) -> AccessTokenIssuer:
    return AccessTokenIssuer(
        lambda: ring.signing_key, issuer=ISSUER, audience=AUDIENCE, clock=clock
    )


def verified(token: str, ring: KeyRing, clock: FrozenClock) -> dict[str, Any]:
    rules = ClaimRules.for_access_tokens(issuer=ISSUER, audience=AUDIENCE)
    return verify_access_token(token, ring, rules, clock=clock)


def issue_for_alice(issuer: AccessTokenIssuer) -> str:
    return issuer.issue(
        subject="usr_123",
        client_id="ostiary",
        scope="reports:read  profile",
        roles=["user", "admin", "user"],
        session_id="ses_abc",
    ).token


def test_a_token_carries_the_rfc_9068_header(issuer: AccessTokenIssuer, ring: KeyRing) -> None:
    header = parse_compact(issue_for_alice(issuer)).header
    assert header == {"alg": "ES256", "kid": ring.signing_key.kid, "typ": "at+jwt"}


def test_a_token_carries_exactly_the_expected_claims(
    issuer: AccessTokenIssuer, ring: KeyRing, clock: FrozenClock
) -> None:
    issued = issuer.issue(
        subject="usr_123",
        client_id="ostiary",
        scope="reports:read  profile",
        roles=["user", "admin", "user"],
        session_id="ses_abc",
    )
    claims = verified(issued.token, ring, clock)
    assert claims == {
        "iss": ISSUER,
        "sub": "usr_123",
        "aud": AUDIENCE,
        "exp": int(T0) + 900,
        "iat": int(T0),
        "jti": issued.jti,
        "client_id": "ostiary",
        "scope": "profile reports:read",
        "roles": ["admin", "user"],
        "sid": "ses_abc",
    }
    assert (issued.expires_at, issued.expires_in) == (int(T0) + 900, 900)
    parsed = AccessClaims.from_claims(claims)
    assert parsed.has_scopes("reports:read") and parsed.has_roles("admin")


def test_no_sid_without_a_session(
    issuer: AccessTokenIssuer, ring: KeyRing, clock: FrozenClock
) -> None:
    issued = issuer.issue(subject="usr_1", client_id="svc", scope="", roles=())
    assert "sid" not in verified(issued.token, ring, clock)


def test_a_dpop_bound_token_confirms_the_key_thumbprint(
    issuer: AccessTokenIssuer, ring: KeyRing, clock: FrozenClock
) -> None:
    """RFC 9449 §6.1: ``cnf.jkt``; an unbound token has no ``cnf`` at all, and ``extra``
    cannot make one up."""
    jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    bound = issuer.issue(subject="u", client_id="c", scope="", dpop_jkt=jkt)
    assert verified(bound.token, ring, clock)["cnf"] == {"jkt": jkt}
    plain = issuer.issue(subject="u", client_id="c", scope="")
    assert "cnf" not in verified(plain.token, ring, clock)
    with pytest.raises(ValueError, match="cnf"):
        issuer.issue(subject="u", client_id="c", scope="", extra={"cnf": {"jkt": jkt}})


def test_jtis_are_long_and_unique(issuer: AccessTokenIssuer) -> None:
    jtis = {issuer.issue(subject="u", client_id="c", scope="").jti for _ in range(200)}
    assert len(jtis) == 200
    assert min(len(j) for j in jtis) >= 22  # 128 bits in base64url


def test_the_token_expires_after_its_ttl(ring: KeyRing, clock: FrozenClock) -> None:
    issuer = AccessTokenIssuer(
        lambda: ring.signing_key, issuer=ISSUER, audience=AUDIENCE, ttl=60, clock=clock
    )
    token = issuer.issue(subject="u", client_id="c", scope="").token
    clock.advance(60 + 31)
    with pytest.raises(Expired):
        verified(token, ring, clock)


def test_extra_claims_are_added_but_never_override(
    issuer: AccessTokenIssuer, ring: KeyRing, clock: FrozenClock
) -> None:
    issued = issuer.issue(subject="u", client_id="c", scope="", extra={"tenant": "t1"})
    assert verified(issued.token, ring, clock)["tenant"] == "t1"
    for reserved in ("sub", "exp", "roles", "sid"):
        with pytest.raises(ValueError, match=reserved):
            issuer.issue(subject="u", client_id="c", scope="", extra={reserved: "x"})


def test_the_signing_key_is_asked_at_every_issue(
    issuer: AccessTokenIssuer, ring: KeyRing, clock: FrozenClock
) -> None:
    before = parse_compact(issue_for_alice(issuer)).kid
    ring.add(generate_key())
    ring.rotate()
    token = issue_for_alice(issuer)
    assert parse_compact(token).kid == ring.signing_key.kid != before
    assert verified(token, ring, clock)["sub"] == "usr_123"


def test_several_audiences_give_an_array(ring: KeyRing, clock: FrozenClock) -> None:
    issuer = AccessTokenIssuer(
        lambda: ring.signing_key, issuer=ISSUER, audience=[AUDIENCE, "b", AUDIENCE], clock=clock
    )
    claims = verified(issuer.issue(subject="u", client_id="c", scope="").token, ring, clock)
    assert claims["aud"] == sorted([AUDIENCE, "b"])


def test_an_invalid_scope_is_refused(issuer: AccessTokenIssuer) -> None:
    with pytest.raises(ValueError):
        issuer.issue(subject="u", client_id="c", scope='bad"scope')


@pytest.mark.parametrize(
    ("issuer_name", "audience", "ttl"),
    [("", AUDIENCE, 900), (ISSUER, "", 900), (ISSUER, [], 900), (ISSUER, AUDIENCE, 0)],
)
def test_bad_settings_are_refused(
    ring: KeyRing, issuer_name: str, audience: str | list[str], ttl: int
) -> None:
    with pytest.raises(ValueError):
        AccessTokenIssuer(lambda: ring.signing_key, issuer=issuer_name, audience=audience, ttl=ttl)


def test_the_repr_never_shows_the_token(issuer: AccessTokenIssuer) -> None:
    issued = issuer.issue(subject="u", client_id="c", scope="")
    assert issued.token not in repr(issued)
    assert issued.token.split(".")[2] not in repr(issued)
