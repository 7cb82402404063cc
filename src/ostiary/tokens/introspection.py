"""Token introspection (RFC 7662) for OAuth clients; revocation (RFC 7009) is
:mod:`ostiary.revocation.client_requests`.

Access tokens are recognized by their JWS form and verified as any resource server would;
anything else is looked up as a refresh token. A client may introspect its own tokens and
access tokens meant for its audiences; for anything else it learns ``{"active": false}``.
A token bound to a DPoP key is answered with its ``cnf`` (RFC 9449 §6.2), an access token so
bound with ``token_type: DPoP``.
"""

from __future__ import annotations

from typing import Any

from ostiary.access_claims import AccessClaims
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import InvalidToken
from ostiary.jose import AudienceMatch, ClaimRules, JWTVerifier, KeyLookup
from ostiary.revocation.service import Revocations
from ostiary.storage.records import Client
from ostiary.tokens.dpop_binding import token_type
from ostiary.tokens.lifecycle import SessionLifecycle

INACTIVE: dict[str, Any] = {"active": False}
#: The longest token looked at: anything longer is no token of this server.
MAX_TOKEN = 8192


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has the JWS compact form: an access token, not a refresh token."""
    return token.count(".") == 2


class TokenInspector:
    """``keys`` and ``issuer`` are the server's own: access tokens are verified as RFC 9068 §4
    says, for whatever audience they name (the client's right to see one is checked after)."""

    def __init__(
        self,
        keys: KeyLookup,
        lifecycle: SessionLifecycle,
        revocations: Revocations,
        *,
        issuer: str,
        leeway: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._keys = keys
        self._lifecycle = lifecycle
        self._refresh = lifecycle.families
        self._revocations = revocations
        # RFC 9068 §4 but for ``aud``: any audience, since whether the client may see the
        # token is decided by ``_may_see`` after verification.
        self._verifier = JWTVerifier(
            ClaimRules(
                issuer=issuer,
                audiences=frozenset(),
                audience_match=AudienceMatch.SHAPE_ONLY,
                leeway=leeway,
            ),
            max_size=MAX_TOKEN,
        )
        self._clock = clock

    async def introspect(self, token: str, client: Client) -> dict[str, Any]:
        """RFC 7662 §2.2: the token's metadata if it is active and the client may see it,
        else ``{"active": false}`` and nothing more."""
        if not token or len(token) > MAX_TOKEN:
            return dict(INACTIVE)
        if looks_like_jwt(token):
            claims = await self.access_claims(token)
            if claims is None or not _may_see(claims, client):
                return dict(INACTIVE)
            raw = claims.raw
            jkt = _bound_key(raw.get("cnf"))
            answer: dict[str, Any] = {
                "active": True,
                "token_type": token_type(jkt),
                "scope": raw.get("scope", ""),
                "client_id": claims.client_id,
                "sub": claims.sub,
                "aud": raw["aud"],
                "iss": raw["iss"],
                "exp": raw["exp"],
                "iat": raw["iat"],
                "jti": claims.jti,
            }
            if claims.sid is not None:
                answer["sid"] = claims.sid
            if jkt is not None:
                answer["cnf"] = {"jkt": jkt}
            return answer
        found = await self._refresh.find(token)
        if found is None or found[1].client_id != client.id:
            return dict(INACTIVE)
        record, session = found
        if not self._refresh.is_active(record, session):
            return dict(INACTIVE)
        answer = {
            "active": True,
            "token_type": "refresh_token",
            "scope": session.scope,
            "client_id": session.client_id,
            "sub": session.user_id,
            "iat": int(record.issued_at),
            "exp": int(min(session.expires_at, session.last_used_at + self._refresh.idle_ttl)),
            "sid": session.id,
        }
        if session.dpop_jkt is not None:
            answer["cnf"] = {"jkt": session.dpop_jkt}
        return answer

    async def access_claims(self, token: str) -> AccessClaims | None:
        """The verified claims of one of this server's live access tokens, else None."""
        try:
            raw = self._verifier.verify(token, self._keys, now=self._clock.now())
        except InvalidToken:
            return None
        claims = AccessClaims.from_claims(raw)
        return None if self._revocations.local.is_revoked(claims) else claims


def _bound_key(cnf: object) -> str | None:
    """The thumbprint of ``cnf.jkt`` (RFC 9449 §6.1), if the token has one."""
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else None


def _may_see(claims: AccessClaims, client: Client) -> bool:
    return claims.client_id == client.id or not client.audiences.isdisjoint(claims.audiences)
