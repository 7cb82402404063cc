"""The verifier of the server's own tokens, for its own routes: a
:class:`~ostiary.resource.TokenVerifier` over the live key ring
(:class:`~ostiary.keys.live.LiveKeySet`) that, for a token naming a key the ring lacks, has
the ring read again (bounded) and tries once more. Another process (a worker beside this one,
an instance, ``ostiary keys rotate``) may have made that key a moment ago."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ostiary.access_claims import AccessClaims
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import UnknownKey
from ostiary.jose import DEFAULT_LEEWAY
from ostiary.keys.live import LiveKeySet
from ostiary.resource import RevocationList, TokenVerifier


class OwnTokenVerifier(TokenVerifier):
    """A ``TokenVerifier`` with ``keys`` the server's live key set."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Iterable[str],
        keys: LiveKeySet,
        leeway: float = DEFAULT_LEEWAY,
        clock: Clock = SYSTEM_CLOCK,
        revocations: RevocationList | None = None,
    ) -> None:
        super().__init__(
            issuer=issuer,
            audience=audience,
            keys=keys,
            leeway=leeway,
            clock=clock,
            revocations=revocations,
        )
        self.live_keys = keys

    async def verify(self, token: str | bytes) -> AccessClaims:
        try:
            return await super().verify(token)
        except UnknownKey:
            if not await self.live_keys.reload():
                raise
        return await super().verify(token)

    async def verify_dpop(
        self, token: str, proofs: str | Sequence[str], *, method: str, url: str
    ) -> AccessClaims:
        try:
            return await super().verify_dpop(token, proofs, method=method, url=url)
        except UnknownKey:
            if not await self.live_keys.reload():
                raise
        return await super().verify_dpop(token, proofs, method=method, url=url)
