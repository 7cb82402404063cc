"""What other services install to verify Ostiary's tokens on their own.

Works with the base install alone (``cryptography``, ``joserfc``, ``httpx``). The FastAPI and
Flask integrations live in :mod:`ostiary.resource.fastapi` and :mod:`ostiary.resource.flask`
and import their framework only when used. httpx too loads only when first used: by a fetch,
or by importing :class:`ClientCredentialsAuth`, :class:`TokenRequestFailed` or
:class:`DPoPAuth` (``httpx.Auth`` subclasses), which this package imports on first access.

Both halves of DPoP (RFC 9449): the verifier and the integrations accept DPoP-bound tokens with
their proofs (:meth:`TokenVerifier.verify_dpop`, checked by a :class:`DPoPChecker`), and
:class:`DPoPAuth` signs the proofs of a service's own requests.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from ostiary.access_claims import AccessClaims
from ostiary.dpop import DPoPChecker, DPoPNonces, MemoryReplayCache, ProofRules
from ostiary.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidToken,
    KeySetUnavailable,
    UseDPoPNonce,
)
from ostiary.resource.cache import VerifiedTokenCache
from ostiary.resource.feed import RevocationFeed
from ostiary.resource.jwks_client import JWKSClient, JWKSPolicy
from ostiary.resource.lifespan import follow_revocations
from ostiary.resource.middleware import BearerAuthMiddleware
from ostiary.resource.stream import RevocationStream, StreamState
from ostiary.resource.verifier import TokenVerifier
from ostiary.revocation.known import RevocationList

if TYPE_CHECKING:
    from ostiary.resource.client_credentials import ClientCredentialsAuth, TokenRequestFailed
    from ostiary.resource.dpop_auth import DPoPAuth

#: Names imported on first access (PEP 562): their modules import httpx, which a process that
#: only verifies tokens (the auth server itself) need not load.
_LAZY: Final = {
    "ClientCredentialsAuth": "ostiary.resource.client_credentials",
    "TokenRequestFailed": "ostiary.resource.client_credentials",
    "DPoPAuth": "ostiary.resource.dpop_auth",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AccessClaims",
    "BearerAuthMiddleware",
    "ClientCredentialsAuth",
    "DPoPAuth",
    "DPoPChecker",
    "DPoPNonces",
    "InsufficientScope",
    "InvalidDPoPProof",
    "InvalidToken",
    "JWKSClient",
    "JWKSPolicy",
    "KeySetUnavailable",
    "MemoryReplayCache",
    "ProofRules",
    "RevocationFeed",
    "RevocationList",
    "RevocationStream",
    "StreamState",
    "TokenRequestFailed",
    "TokenVerifier",
    "UseDPoPNonce",
    "VerifiedTokenCache",
    "follow_revocations",
]
