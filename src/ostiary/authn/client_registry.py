"""The registry of OAuth clients: registration with checked settings
(:mod:`ostiary.authn.client_settings`), and secrets. A secret is 256 random bits, shown once,
stored as SHA-256: a high-entropy secret cannot be guessed from its hash, so no slow hash is
needed and the token endpoint stays fast.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from ostiary.authn.client_settings import (
    CLIENT_ID_PATTERN,
    SECRET_METHODS,
    ClientSettings,
    check_settings,
)
from ostiary.authz.trust import ServerAudiences
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.encoding import sha256_hex
from ostiary.errors import (
    InvalidClientMetadata,
    NotFound,
)
from ostiary.storage.protocols import ClientStore, Conflict
from ostiary.storage.records import USER_ID_PREFIX, Client


def hash_secret(secret: str) -> str:
    return sha256_hex(secret)


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


@dataclass(frozen=True, slots=True)
class Registered:
    client: Client
    #: The plaintext secret, shown once; None for public and ``private_key_jwt`` clients.
    secret: str | None

    def __repr__(self) -> str:
        return f"Registered(client_id={self.client.id!r})"


class ClientRegistry:
    """Creates, changes and finds clients. ``get`` is served from a short-lived in-process
    cache (``cache_seconds``), so that the token endpoint does not read the database on every
    request; changes made here drop the entry at once, changes made by another process are
    seen within ``cache_seconds``.

    No client may be registered for the server's own account or UserInfo audiences, nor for
    its admin audience without the admin scope (:meth:`ServerAudiences.registration_problem`);
    client ids never look like user ids (RFC 9068 §5: a client's ``sub`` never names a user);
    deleting a client ends its refresh families (``end_sessions``)."""

    def __init__(
        self,
        store: ClientStore,
        *,
        audiences: ServerAudiences,
        end_sessions: Callable[[str], Awaitable[object]],
        clock: Clock = SYSTEM_CLOCK,
        cache_seconds: float = 5.0,
    ) -> None:
        self._store = store
        self._audiences = audiences
        self._end_sessions = end_sessions
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Client | None]] = {}

    async def create(self, settings: ClientSettings, *, client_id: str | None = None) -> Registered:
        """Register a client; its secret (if it has one) is returned once and stored hashed."""
        checked = check_settings(settings)
        problem = self._audiences.registration_problem(checked.audiences, checked.scopes)
        if problem is not None:
            raise InvalidClientMetadata(f"Invalid audience: {problem}.")
        cid = client_id if client_id is not None else "cl_" + secrets.token_urlsafe(12)
        if not CLIENT_ID_PATTERN.fullmatch(cid):
            raise InvalidClientMetadata(
                "A client id is 1 to 100 letters, digits and '._~-', starting with a letter "
                "or digit."
            )
        if cid.lower().startswith(USER_ID_PREFIX):
            raise InvalidClientMetadata(
                f"A client id may not start with {USER_ID_PREFIX!r}: that is how user ids "
                "start, and a client's tokens must never name a user (RFC 9068 §5)."
            )
        secret = new_secret() if checked.auth_method in SECRET_METHODS else None
        now = self._clock.now()
        client = Client(
            id=cid,
            name=checked.name,
            auth_method=checked.auth_method,
            secret_hash=hash_secret(secret) if secret is not None else None,
            jwks=json.dumps(checked.jwks, sort_keys=True) if checked.jwks is not None else None,
            redirect_uris=checked.redirect_uris,
            post_logout_redirect_uris=checked.post_logout_redirect_uris,
            grant_types=checked.grant_types,
            scopes=checked.scopes,
            audiences=checked.audiences,
            first_party=checked.first_party,
            created_at=now,
            updated_at=now,
            backchannel_logout_uri=checked.backchannel_logout_uri,
            backchannel_logout_session_required=checked.backchannel_logout_session_required,
            dpop_bound_access_tokens=checked.dpop_bound_access_tokens,
        )
        try:
            await self._store.create(client)
        except Conflict:
            raise InvalidClientMetadata(f"The client id {cid!r} is taken.") from None
        self._cache.pop(cid, None)
        return Registered(client, secret)

    async def rotate_secret(self, client_id: str) -> Registered:
        """A new secret for a ``client_secret_*`` client; the old one stops working at once
        in this process (and within ``cache_seconds`` in others)."""
        client = await self.require(client_id)
        if client.auth_method not in SECRET_METHODS:
            raise InvalidClientMetadata(f"Client {client_id} does not authenticate with a secret.")
        secret = new_secret()
        updated = replace(client, secret_hash=hash_secret(secret), updated_at=self._clock.now())
        await self._store.update(updated)
        self._cache.pop(client_id, None)
        return Registered(updated, secret)

    async def set_secret(self, client_id: str, secret: str) -> Client:
        """Give a ``client_secret_*`` client a secret chosen by the operator (at least 32
        characters: it is stored as a fast hash, so it must be high-entropy)."""
        if len(secret) < 32:
            raise InvalidClientMetadata("A client secret has at least 32 characters.")
        client = await self.require(client_id)
        if client.auth_method not in SECRET_METHODS:
            raise InvalidClientMetadata(f"Client {client_id} does not authenticate with a secret.")
        updated = replace(client, secret_hash=hash_secret(secret), updated_at=self._clock.now())
        await self._store.update(updated)
        self._cache.pop(client_id, None)
        return updated

    async def set_audiences(self, client_id: str, audiences: frozenset[str]) -> Client:
        """Register the client for ``audiences`` instead (under the same rules as at
        creation); its refresh families keep the audiences they were granted."""
        client = await self.require(client_id)
        problem = self._audiences.registration_problem(audiences, client.scopes)
        if problem is not None:
            raise InvalidClientMetadata(f"Invalid audience: {problem}.")
        updated = replace(client, audiences=audiences, updated_at=self._clock.now())
        await self._store.update(updated)
        self._cache.pop(client_id, None)
        return updated

    async def set_dpop_bound_access_tokens(self, client_id: str, required: bool) -> Client:
        """Require a DPoP proof with every token request of the client, or stop requiring
        it (RFC 9449 §5.2 ``dpop_bound_access_tokens``)."""
        client = await self.require(client_id)
        updated = replace(client, dpop_bound_access_tokens=required, updated_at=self._clock.now())
        await self._store.update(updated)
        self._cache.pop(client_id, None)
        return updated

    async def delete(self, client_id: str) -> bool:
        """Delete the client and end its refresh families with their access tokens: a
        refresh token is bound to its client and dies with it (RFC 6749 §10.4)."""
        deleted = await self._store.delete(client_id)
        self._cache.pop(client_id, None)
        await self._end_sessions(client_id)
        return deleted

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[Client]:
        return await self._store.list(offset=offset, limit=limit)

    async def get(self, client_id: str) -> Client | None:
        now = self._clock.now()
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        client = await self._store.get(client_id)
        if len(self._cache) >= 10_000:  # unknown ids must not grow it without bound
            self._cache.clear()
        self._cache[client_id] = (now + self._cache_seconds, client)
        return client

    async def require(self, client_id: str) -> Client:
        client = await self.get(client_id)
        if client is None:
            raise NotFound(f"There is no client {client_id}.")
        return client
