"""The client credentials grant (RFC 6749 §4.4): a service asks for a token of its own."""

from __future__ import annotations

from typing import Final

from ostiary.authn.client_settings import CLIENT_CREDENTIALS
from ostiary.errors import UnauthorizedClient
from ostiary.grants.base import IssuedTokens, OAuthParams, requested_audiences, requested_scope
from ostiary.storage.records import Client
from ostiary.tokens.access import AccessTokenIssuer


class ClientCredentialsGrant:
    """``sub`` and ``client_id`` are the client's id; the scope is what the client asks within
    its registered scopes (all of them when it asks for none); the audiences come from
    ``resource`` (RFC 8707) within its registered ones, all of them when it asks for none; a
    client registered for none gets no token (:class:`~ostiary.errors.InvalidTarget`). No
    roles: a client has none. No refresh token (RFC 6749 §4.4.3): the client asks again. With a
    DPoP proof the token is bound to its key (RFC 9449 §5, §6.1)."""

    grant_type: Final = CLIENT_CREDENTIALS

    def __init__(self, issuer: AccessTokenIssuer) -> None:
        self._issuer = issuer

    async def exchange(
        self, request: OAuthParams, client: Client, *, dpop_jkt: str | None = None
    ) -> IssuedTokens:
        if client.public:  # RFC 6749 §4.4: confidential clients only
            raise UnauthorizedClient(detail=f"public client {client.id} asked client_credentials")
        scope = requested_scope(request.get("scope"), client.scopes, default=client.scopes)
        audiences = requested_audiences(request.resources, client)
        access = self._issuer.issue(
            subject=client.id,
            client_id=client.id,
            scope=scope,
            audience=audiences,
            dpop_jkt=dpop_jkt,
        )
        return IssuedTokens(access=access, scope=scope, dpop_jkt=dpop_jkt)
