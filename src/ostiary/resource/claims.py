"""What a verified access token says, as a typed read-only object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ostiary.authz.scopes import missing


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The claims of a verified JWT access token (RFC 9068 §2.2).

    ``scopes`` comes from the space-separated ``scope`` claim, ``roles`` from the ``roles``
    array (RFC 9068 §7.2.1.1); ``raw`` holds every claim as it was signed.
    """

    sub: str
    client_id: str
    jti: str
    exp: float
    iss: str
    audiences: tuple[str, ...]
    scopes: frozenset[str]
    roles: frozenset[str]
    sid: str | None
    raw: Mapping[str, Any]

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> AccessClaims:
        aud = claims["aud"]
        scope = claims.get("scope", "")
        return cls(
            sub=claims["sub"],
            client_id=claims["client_id"],
            jti=claims["jti"],
            exp=claims["exp"],
            iss=claims["iss"],
            audiences=(aud,) if isinstance(aud, str) else tuple(aud),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            roles=frozenset(claims.get("roles", ())),
            sid=claims.get("sid"),
            raw=MappingProxyType(claims),
        )

    def has_scopes(self, *required: str) -> bool:
        return not missing(required, self.scopes)

    def has_roles(self, *required: str) -> bool:
        return not missing(required, self.roles)

    def __repr__(self) -> str:
        return f"AccessClaims(sub={self.sub!r}, client_id={self.client_id!r}, jti={self.jti!r})"
