"""One place to mint access tokens for the resource-server tests (unit and HTTP)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any, Final

from ostiary.jose import JWK, sign_compact

ISSUER: Final = "https://auth.example.test"
AUDIENCE: Final = "orders-api"
CLIENT_ID: Final = "client-1"
#: A fixed moment for FrozenClock-driven tests (2023-11-14T22:13:20Z).
T0: Final = 1_700_000_000

_serial = itertools.count(1)


def claims_for(
    *,
    now: float,
    ttl: int = 300,
    sub: str = "alice",
    scope: str | None = "orders:read profile",
    roles: Iterable[str] | None = ("viewer",),
    sid: str | None = "sid-1",
    jti: str | None = None,
    client_id: str = CLIENT_ID,
    issuer: str = ISSUER,
    audience: str | list[str] = AUDIENCE,
    iat: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """RFC 9068 claims; ``exp`` and ``iat`` are whole seconds (NumericDate as int)."""
    issued = int(now) if iat is None else iat
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "aud": audience,
        "exp": int(now) + ttl,
        "iat": issued,
        "jti": jti if jti is not None else f"jti-{next(_serial)}",
        "client_id": client_id,
    }
    if scope is not None:
        claims["scope"] = scope
    if roles is not None:
        claims["roles"] = list(roles)
    if sid is not None:
        claims["sid"] = sid
    claims.update(extra)
    return claims


def mint(key: JWK, *, now: float, typ: str = "at+jwt", **overrides: Any) -> str:
    """A signed access token; ``overrides`` go to :func:`claims_for`."""
    return sign_compact(claims_for(now=now, **overrides), key, typ=typ)


def jwks_of(*keys: JWK) -> dict[str, Any]:
    """The public JWKS document of ``keys``."""
    return {"keys": [k.public_dict() for k in keys]}
