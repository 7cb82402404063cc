"""The one JWT verification pipeline: parse → type → key → signature → claims.

Every token Ostiary trusts goes through these steps in this order, each kind with its own
:class:`~ostiary.jose.claims.ClaimRules`: access tokens (RFC 9068 §4), client assertions
(RFC 7523 §3), ID tokens sent back as logout hints. The steps are split where a caller must
find the key its own way: :meth:`JWTVerifier.parse` needs no key, the caller looks up the key
named by ``kid`` (in memory, or from a JWKS it fetches asynchronously), and
:meth:`JWTVerifier.finish` checks the signature and the claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import UnknownKey
from ostiary.jose.claims import ClaimRules, check_type, validate_claims
from ostiary.jose.jwk import JWK
from ostiary.jose.jws import DEFAULT_MAX_TOKEN_SIZE, KeyLookup, ParsedJWS, parse_compact


@dataclass(frozen=True, slots=True)
class JWTVerifier:
    """Verifies one kind of JWT: ``rules`` say what it must carry, ``max_size`` how long it
    may be before anything is decoded. Raises an :class:`~ostiary.errors.InvalidToken`
    subclass naming the failed check."""

    rules: ClaimRules
    max_size: int = DEFAULT_MAX_TOKEN_SIZE

    def parse(self, token: str | bytes) -> ParsedJWS:
        """Form and header (:func:`~ostiary.jose.jws.parse_compact`), then ``typ``: every
        check that needs no key, cheapest first."""
        parsed = parse_compact(token, max_size=self.max_size)
        rules = self.rules
        check_type(parsed.header, rules.types, required=rules.type_required)
        return parsed

    def finish(self, parsed: ParsedJWS, key: JWK | None, *, now: float) -> dict[str, Any]:
        """The signature with ``key`` (the one the caller found for ``parsed.kid``; None
        when there is none), then every claim at ``now``. Returns the claims."""
        if key is None:
            raise UnknownKey(detail="no key for the token's kid")
        claims = parsed.verify(key)
        validate_claims(claims, self.rules, now=now)
        return claims

    def verify(self, token: str | bytes, keys: KeyLookup, *, now: float) -> dict[str, Any]:
        """All the steps, with the key found by ``kid`` among ``keys``."""
        parsed = self.parse(token)
        return self.finish(parsed, keys.get(parsed.kid), now=now)


def verify_jwt(
    token: str | bytes,
    keys: KeyLookup,
    rules: ClaimRules,
    *,
    clock: Clock = SYSTEM_CLOCK,
    max_size: int = DEFAULT_MAX_TOKEN_SIZE,
) -> dict[str, Any]:
    """Verify ``token`` against ``rules`` with the key ``keys`` hold for its ``kid`` and
    return its claims: :class:`JWTVerifier` in one call."""
    return JWTVerifier(rules, max_size).verify(token, keys, now=clock.now())
