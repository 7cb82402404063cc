"""The only wrapper of the JOSE library (joserfc). Nothing here knows of HTTP or storage.

Verification here is strict by construction: see :mod:`ostiary.jose.jws` for the token form
and header, :mod:`ostiary.jose.claims` for the claims, and :func:`verify_access_token` for the
whole RFC 9068 check in one call.
"""

from __future__ import annotations

from typing import Any

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import UnknownKey
from ostiary.jose.algorithms import ALGORITHMS, DEFAULT_ALGORITHM, AlgorithmSpec
from ostiary.jose.claims import (
    ACCESS_TOKEN_CLAIMS,
    ACCESS_TOKEN_TYPES,
    DEFAULT_LEEWAY,
    ClaimRules,
    check_type,
    validate_claims,
)
from ostiary.jose.jwk import JWK, PRIVATE_MEMBERS, JWKSet
from ostiary.jose.jws import (
    DEFAULT_MAX_TOKEN_SIZE,
    KeyLookup,
    ParsedJWS,
    parse_compact,
    sign_compact,
    verify_compact,
)

__all__ = [
    "ACCESS_TOKEN_CLAIMS",
    "ACCESS_TOKEN_TYPES",
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_SIZE",
    "JWK",
    "PRIVATE_MEMBERS",
    "AlgorithmSpec",
    "ClaimRules",
    "JWKSet",
    "KeyLookup",
    "ParsedJWS",
    "check_type",
    "parse_compact",
    "sign_compact",
    "validate_claims",
    "verify_access_token",
    "verify_compact",
]


def verify_access_token(
    token: str | bytes,
    keys: KeyLookup,
    rules: ClaimRules,
    *,
    clock: Clock = SYSTEM_CLOCK,
    max_size: int = DEFAULT_MAX_TOKEN_SIZE,
) -> dict[str, Any]:
    """Verify a JWT access token per RFC 9068 §4 and return its claims.

    Form and header first (cheap), then the signature with the key the verifier chose by
    ``kid``, then every claim. Raises an :class:`~ostiary.errors.InvalidToken` subclass.
    """
    parsed = parse_compact(token, max_size=max_size)
    check_type(parsed.header, rules.types)
    key = keys.get(parsed.kid)
    if key is None:
        raise UnknownKey(detail="no key for the token's kid")
    claims = parsed.verify(key)
    validate_claims(claims, rules, now=clock.now())
    return claims
