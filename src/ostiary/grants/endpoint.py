"""The token endpoint's logic (RFC 6749 §3.2): authenticate the client, pick the grant by
``grant_type``, check the client may use it, check its DPoP proof if it sent one (RFC 9449 §5),
exchange."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ostiary.authn.client_auth import ClientAuthenticator, ClientCredentials
from ostiary.dpop import DPoPChecker
from ostiary.errors import InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from ostiary.grants.base import Grant, IssuedTokens, OAuthParams
from ostiary.tokens.dpop_binding import ProofRequest, proof_key, require_proof

#: Grants RFC 9700 forbids (§2.4 password) or that are not token-endpoint grants.
REFUSED: Final = {
    "password": "The password grant is not supported (RFC 9700 §2.4).",
    "implicit": "The implicit flow is not supported (RFC 9700 §2.1.2).",
}


class TokenEndpoint:
    """``dpop`` checks the DPoP proofs sent with token requests (RFC 9449 §4.3); without it a
    request that carries one is refused."""

    def __init__(
        self,
        authenticator: ClientAuthenticator,
        grants: Iterable[Grant],
        *,
        dpop: DPoPChecker | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._grants = {grant.grant_type: grant for grant in grants}
        self.dpop = dpop

    @property
    def grant_types(self) -> list[str]:
        return sorted(self._grants)

    async def exchange(
        self,
        credentials: ClientCredentials,
        request: OAuthParams,
        *,
        dpop: ProofRequest | None = None,
    ) -> IssuedTokens:
        """Exchange the grant of ``request``; ``dpop`` is what the request offered for DPoP
        (None: no ``DPoP`` header). The proof is checked once the client is known, so that
        only clients write to the replay cache."""
        grant_type = request.get("grant_type")
        if not grant_type:
            raise InvalidRequest("The grant_type parameter is missing.")
        client = await self._authenticator.authenticate(credentials)
        grant = self._grants.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(
                REFUSED.get(grant_type), detail=f"grant_type {grant_type[:50]!r}"
            )
        if grant_type not in client.grant_types:
            raise UnauthorizedClient(detail=f"client {client.id} may not use {grant_type}")
        jkt = await proof_key(self.dpop, dpop)
        require_proof(jkt, client_id=client.id, required=client.dpop_bound_access_tokens)
        return await grant.exchange(request, client, dpop_jkt=jkt)
