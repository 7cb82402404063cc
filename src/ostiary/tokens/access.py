"""Issuing JWT access tokens (RFC 9068).

A token names the user by opaque id only: no email, no username, no other personal data
(RFC 9068 §6 on privacy), unless the caller passes them in ``extra`` on purpose.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ostiary.authz.scopes import format_scope, parse_scope
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.jose import JWK, sign_compact

#: RFC 9068 §2.1: the ``typ`` header of a JWT access token.
ACCESS_TOKEN_TYP: Final = "at+jwt"
DEFAULT_ACCESS_TTL: Final = 900
#: Claims the issuer sets; ``extra`` may not override them.
RESERVED_CLAIMS: Final = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "roles", "sid", "cnf"}
)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    #: The compact JWS. Never log it.
    token: str
    jti: str
    expires_at: int
    expires_in: int

    def __repr__(self) -> str:
        return f"IssuedToken(jti={self.jti!r}, expires_at={self.expires_at})"


class AccessTokenIssuer:
    """Signs access tokens with whatever key is active when :meth:`issue` is called:
    ``signing_key`` is asked each time, so a key rotation takes effect at once."""

    def __init__(
        self,
        signing_key: Callable[[], JWK],
        *,
        issuer: str,
        audience: str | Iterable[str],
        ttl: int = DEFAULT_ACCESS_TTL,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        audiences = [audience] if isinstance(audience, str) else sorted(set(audience))
        if not issuer or not audiences or not all(audiences):
            raise ValueError("an issuer and at least one non-empty audience are required")
        if ttl <= 0:
            raise ValueError("the access-token lifetime must be positive")
        self._signing_key = signing_key
        self._issuer = issuer
        self._audience: str | list[str] = audiences[0] if len(audiences) == 1 else audiences
        self.ttl = int(ttl)
        self._clock = clock

    def issue(
        self,
        *,
        subject: str,
        client_id: str,
        scope: str,
        roles: Iterable[str] = (),
        session_id: str | None = None,
        audience: str | Sequence[str] | None = None,
        extra: Mapping[str, Any] | None = None,
        dpop_jkt: str | None = None,
    ) -> IssuedToken:
        """Sign a token with the claims RFC 9068 §2.2 requires plus ``scope`` (§2.2.3),
        ``roles`` (§2.2.3.1) and ``sid``, the session (refresh family) it belongs to.
        ``audience`` replaces the issuer's default audience (RFC 8707 ``resource``);
        ``dpop_jkt`` binds the token to that DPoP key: ``cnf: {"jkt": ...}`` (RFC 9449 §6.1)."""
        if extra and not RESERVED_CLAIMS.isdisjoint(extra):
            raise ValueError(f"extra claims may not set {sorted(RESERVED_CLAIMS & extra.keys())}")
        issued_at = int(self._clock.now())
        expires_at = issued_at + self.ttl
        jti = secrets.token_urlsafe(16)  # 128 random bits
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "aud": self._audience if audience is None else _audience_claim(audience),
            "exp": expires_at,
            "iat": issued_at,
            "jti": jti,
            "client_id": client_id,
            "scope": format_scope(parse_scope(scope)),
            "roles": sorted(set(roles)),
        }
        if session_id is not None:
            claims["sid"] = session_id
        if dpop_jkt is not None:
            claims["cnf"] = {"jkt": dpop_jkt}
        if extra:
            claims.update(extra)
        token = sign_compact(claims, self._signing_key(), typ=ACCESS_TOKEN_TYP)
        return IssuedToken(token=token, jti=jti, expires_at=expires_at, expires_in=self.ttl)


def _audience_claim(audience: str | Sequence[str]) -> str | list[str]:
    """One audience as a string, several as a sorted list (RFC 7519 §4.1.3)."""
    audiences = [audience] if isinstance(audience, str) else sorted(set(audience))
    if not audiences or not all(audiences):
        raise ValueError("at least one non-empty audience is required")
    return audiences[0] if len(audiences) == 1 else audiences
