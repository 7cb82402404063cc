"""The only wrapper of the JOSE library (joserfc). Nothing here knows of HTTP or storage.

Verification here is strict by construction: see :mod:`ostiary.jose.jws` for the token form
and header, :mod:`ostiary.jose.claims` for the claims, and :mod:`ostiary.jose.verify` for the
one pipeline that runs them in order (:class:`JWTVerifier`, :func:`verify_jwt`), whatever the
kind of token; :func:`verify_access_token` is that pipeline under its RFC 9068 name.
"""

from __future__ import annotations

from typing import Final

from ostiary.jose.algorithms import ALGORITHMS, DEFAULT_ALGORITHM, AlgorithmSpec
from ostiary.jose.claims import (
    ACCESS_TOKEN_CLAIMS,
    ACCESS_TOKEN_TYPES,
    DEFAULT_LEEWAY,
    AudienceMatch,
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
from ostiary.jose.verify import JWTVerifier, verify_jwt

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
    "AudienceMatch",
    "ClaimRules",
    "JWKSet",
    "JWTVerifier",
    "KeyLookup",
    "ParsedJWS",
    "check_type",
    "parse_compact",
    "sign_compact",
    "validate_claims",
    "verify_access_token",
    "verify_compact",
    "verify_jwt",
]


#: Verify a JWT access token per RFC 9068 §4 (given the rules of
#: :meth:`ClaimRules.for_access_tokens`) and return its claims: the one pipeline,
#: :func:`verify_jwt`. :class:`~ostiary.resource.TokenVerifier` runs the same steps with a
#: JWKS client and a cache of verified tokens.
verify_access_token: Final = verify_jwt
