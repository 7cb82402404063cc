"""Keys and access tokens for the benches, minted by Ostiary itself (RFC 9068 form)."""

from __future__ import annotations

import time
import uuid
from typing import Any, Final

from ostiary.jose import JWK, sign_compact

ISSUER: Final = "https://auth.bench.example"
AUDIENCE: Final = "orders"
#: Tokens stay valid for an hour: far beyond any bench run.
LIFETIME: Final = 3600


def claims(now: int | None = None) -> dict[str, Any]:
    """A typical access token's claims, with a fresh ``jti``."""
    issued = int(time.time()) if now is None else now
    return {
        "iss": ISSUER,
        "sub": "user-7f3a9c",
        "aud": AUDIENCE,
        "exp": issued + LIFETIME,
        "iat": issued,
        "jti": uuid.uuid4().hex,
        "client_id": "bench-client",
        "scope": "orders:read orders:write",
    }


def mint(key: JWK, count: int) -> list[str]:
    """``count`` distinct access tokens (different ``jti``) signed by ``key``."""
    now = int(time.time())
    return [sign_compact(claims(now), key, typ="at+jwt") for _ in range(count)]
