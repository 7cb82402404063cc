"""What a verified access token says, as a typed read-only object: shared by the issuing side
(``ostiary.tokens``) and the verifying side (``ostiary.resource``, which exports it), below both."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ostiary.authz.scopes import missing


class AccessClaims:
    """The claims of a verified JWT access token (RFC 9068 §2.2), read-only.

    ``scopes`` comes from the space-separated ``scope`` claim, ``roles`` from the ``roles``
    array (RFC 9068 §7.2.1.1); ``raw`` holds every claim as it was signed. Built on every
    verification, so construction is one assignment and each view is computed when first read.
    """

    __slots__ = ("_raw", "_roles", "_scopes")
    _raw: dict[str, Any]
    _scopes: frozenset[str] | None
    _roles: frozenset[str] | None

    def __init__(self, claims: dict[str, Any]) -> None:
        object.__setattr__(self, "_raw", claims)
        object.__setattr__(self, "_scopes", None)
        object.__setattr__(self, "_roles", None)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> AccessClaims:
        """Wrap a claims set that :mod:`ostiary.jose` verified (types already checked)."""
        return cls(claims)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("AccessClaims is read-only")

    @property
    def sub(self) -> str:
        return str(self._raw["sub"])

    @property
    def client_id(self) -> str:
        return str(self._raw["client_id"])

    @property
    def jti(self) -> str:
        return str(self._raw["jti"])

    @property
    def exp(self) -> float:
        exp: float = self._raw["exp"]
        return exp

    @property
    def iat(self) -> float:
        iat: float = self._raw["iat"]
        return iat

    @property
    def iss(self) -> str:
        return str(self._raw["iss"])

    @property
    def sid(self) -> str | None:
        sid = self._raw.get("sid")
        return sid if isinstance(sid, str) else None

    @property
    def dpop_jkt(self) -> str | None:
        """The RFC 7638 thumbprint of the key the token is bound to (``cnf.jkt``, RFC 9449
        §6.1), or None for a bearer token. The resource toolkit returns a bound token's claims
        only once a proof by that key was checked (§7.1)."""
        cnf = self._raw.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        return jkt if isinstance(jkt, str) else None

    @property
    def audiences(self) -> tuple[str, ...]:
        aud = self._raw["aud"]
        return (aud,) if isinstance(aud, str) else tuple(aud)

    @property
    def scopes(self) -> frozenset[str]:
        scopes: frozenset[str] | None = self._scopes
        if scopes is None:
            scope = self._raw.get("scope", "")
            scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
            object.__setattr__(self, "_scopes", scopes)
        return scopes

    @property
    def roles(self) -> frozenset[str]:
        roles: frozenset[str] | None = self._roles
        if roles is None:
            roles = frozenset(self._raw.get("roles", ()))
            object.__setattr__(self, "_roles", roles)
        return roles

    @property
    def raw(self) -> Mapping[str, Any]:
        return MappingProxyType(self._raw)

    def has_scopes(self, *required: str) -> bool:
        return not missing(required, self.scopes)

    def has_roles(self, *required: str) -> bool:
        return not missing(required, self.roles)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AccessClaims):
            return NotImplemented
        return bool(self._raw == other._raw)

    def __hash__(self) -> int:
        return hash(self.jti)

    def __repr__(self) -> str:
        return f"AccessClaims(sub={self.sub!r}, client_id={self.client_id!r}, jti={self.jti!r})"
