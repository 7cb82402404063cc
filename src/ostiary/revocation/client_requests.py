"""Token revocation (RFC 7009) for OAuth clients: a client revokes its own tokens, and for
anything else learns nothing (the endpoint answers 200 regardless, RFC 7009 §2.2)."""

from __future__ import annotations

from ostiary.revocation.service import Revocations
from ostiary.storage.records import Client
from ostiary.tokens.introspection import MAX_TOKEN, TokenInspector, looks_like_jwt
from ostiary.tokens.lifecycle import SessionLifecycle


class ClientTokenRevocation:
    """What ``POST /oauth/revoke`` does: access tokens are recognized as
    :class:`~ostiary.tokens.introspection.TokenInspector` recognizes them, anything else is
    looked up as a refresh token."""

    def __init__(
        self, inspector: TokenInspector, lifecycle: SessionLifecycle, revocations: Revocations
    ) -> None:
        self._inspector = inspector
        self._lifecycle = lifecycle
        self._revocations = revocations

    async def revoke(self, token: str, client: Client) -> None:
        """RFC 7009 §2.1: a refresh token takes its whole family and the family's access
        tokens with it; an access token is refused from now on. Unknown, invalid or foreign
        tokens change nothing."""
        if not token or len(token) > MAX_TOKEN:
            return
        if looks_like_jwt(token):
            claims = await self._inspector.access_claims(token)
            if claims is not None and claims.client_id == client.id:
                await self._revocations.revoke_token(claims.jti, claims.exp)
            return
        found = await self._lifecycle.families.find(token)
        if found is None or found[1].client_id != client.id:
            return
        await self._lifecycle.end_session(found[1].id)
