"""What other services install to verify Ostiary's tokens on their own.

Works with the base install alone (``cryptography``, ``joserfc``, ``httpx``). The FastAPI and
Flask integrations live in :mod:`ostiary.resource.fastapi` and :mod:`ostiary.resource.flask`
and import their framework only when used.
"""

from __future__ import annotations

from ostiary.access_claims import AccessClaims
from ostiary.errors import InsufficientScope, InvalidToken, KeySetUnavailable
from ostiary.resource.cache import VerifiedTokenCache
from ostiary.resource.client_credentials import ClientCredentialsAuth, TokenRequestFailed
from ostiary.resource.feed import RevocationFeed
from ostiary.resource.jwks_client import JWKSClient, JWKSPolicy
from ostiary.resource.lifespan import follow_revocations
from ostiary.resource.middleware import BearerAuthMiddleware
from ostiary.resource.stream import RevocationStream, StreamState
from ostiary.resource.verifier import TokenVerifier
from ostiary.revocation_list import RevocationList

__all__ = [
    "AccessClaims",
    "BearerAuthMiddleware",
    "ClientCredentialsAuth",
    "InsufficientScope",
    "InvalidToken",
    "JWKSClient",
    "JWKSPolicy",
    "KeySetUnavailable",
    "RevocationFeed",
    "RevocationList",
    "RevocationStream",
    "StreamState",
    "TokenRequestFailed",
    "TokenVerifier",
    "VerifiedTokenCache",
    "follow_revocations",
]
