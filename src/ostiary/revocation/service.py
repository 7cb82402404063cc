"""Access-token revocation: the feed resource servers pull, and the issuer's own copy of it.

An access token cannot be recalled once issued, so its refusal is published instead: by
``jti``, by session (``sid``), or by user with a "not before" time (RFC 7009 §2.1 lets one
revocation take related tokens with it). Each entry lives only as long as the tokens it
covers could.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from ostiary.access_claims import AccessClaims
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.jose import DEFAULT_LEEWAY
from ostiary.revocation.broadcast import RevocationBroadcast
from ostiary.revocation.known import RevocationList
from ostiary.storage.protocols import RevocationStore
from ostiary.storage.records import Revocation, RevocationKind

MAX_FEED_PAGE: Final = 1000


class Revocations:
    """Writes revocations to the store and keeps a local :class:`RevocationList` in step with
    it, so that the issuer's own routes check revocation with a memory lookup.

    ``max_access_ttl`` is the longest access-token lifetime: a session or user entry must
    outlive every token issued before it.
    """

    def __init__(
        self,
        store: RevocationStore,
        *,
        clock: Clock = SYSTEM_CLOCK,
        max_access_ttl: float,
        leeway: float = DEFAULT_LEEWAY,
        local: RevocationList | None = None,
        broadcast: RevocationBroadcast | None = None,
        announce: Callable[[int], None] | None = None,
    ) -> None:
        """``local`` is the list to keep in step (a new one by default); pass the one your
        verifiers share so that a revocation here reaches them at once. ``broadcast`` pushes
        every entry applied here, written here or pulled by :meth:`sync`, to the revocation
        streams of this process. ``announce`` is told the ``seq`` of every entry written here,
        so that other processes hear of it at once (:mod:`ostiary.revocation.relay`);
        it must not block."""
        if max_access_ttl <= 0 or leeway < 0:
            raise ValueError("max_access_ttl must be positive and leeway not negative")
        self._store = store
        self._clock = clock
        self._horizon = max_access_ttl + leeway
        self._leeway = leeway
        self.local = local if local is not None else RevocationList()
        self.broadcast = broadcast if broadcast is not None else RevocationBroadcast()
        self._announce = announce
        self._cursor = 0

    # --- revoking --------------------------------------------------------------------------

    async def revoke_token(self, jti: str, expires_at: float) -> Revocation:
        """One access token, until it expires (plus the leeway verifiers allow)."""
        now = self._clock.now()
        return await self._add(RevocationKind.TOKEN, jti, now, expires_at + self._leeway)

    async def revoke_session(self, session_id: str) -> Revocation:
        """Every access token of a session (logout, refresh-token reuse)."""
        now = self._clock.now()
        return await self._add(RevocationKind.SESSION, session_id, now, now + self._horizon)

    async def revoke_subject(self, user_id: str, not_before: float | None = None) -> Revocation:
        """Every access token of a user issued before ``not_before`` (default now).

        ``iat`` is whole seconds, so a token issued in the same second just after the
        revocation is refused as well: it errs on the safe side for under a second.
        """
        cutoff = self._clock.now() if not_before is None else not_before
        return await self._add(RevocationKind.SUBJECT, user_id, cutoff, cutoff + self._horizon)

    async def _add(
        self, kind: RevocationKind, value: str, not_before: float, expires_at: float
    ) -> Revocation:
        entry = await self._store.add(
            Revocation(kind=kind, value=value, not_before=not_before, expires_at=expires_at)
        )
        # Refused here at once; sync() will see the entry again, harmlessly.
        self._apply(entry)
        if self._announce is not None:
            self._announce(entry.seq)
        return entry

    # --- the feed --------------------------------------------------------------------------

    async def feed(
        self, since: int, limit: int = MAX_FEED_PAGE
    ) -> tuple[Sequence[Revocation], int]:
        """Entries after the cursor ``since``, and the cursor to ask with next time
        (``GET /auth/revocations?since=``)."""
        page = max(1, min(limit, MAX_FEED_PAGE))
        entries = await self._store.since(max(0, since), limit=page)
        return entries, (entries[-1].seq if entries else max(0, since))

    async def purge(self) -> int:
        """Delete expired entries from the store and from the local list."""
        now = self._clock.now()
        self.local.purge(now, max_token_lifetime=self._horizon)
        return await self._store.purge(now=now)

    # --- the local copy --------------------------------------------------------------------

    async def sync(self) -> int:
        """Pull entries added since the last sync (by any process); one empty query when
        nothing changed. Returns how many were applied."""
        applied = 0
        while True:
            entries = await self._store.since(self._cursor, limit=MAX_FEED_PAGE)
            for entry in entries:
                self._apply(entry)
                self._cursor = max(self._cursor, entry.seq)
            applied += len(entries)
            if len(entries) < MAX_FEED_PAGE:
                break
        self.local.purge(self._clock.now(), max_token_lifetime=self._horizon)
        return applied

    @property
    def cursor(self) -> int:
        """The ``seq`` of the last entry :meth:`sync` applied."""
        return self._cursor

    def is_revoked(self, claims: AccessClaims) -> bool:
        return bool(self.local) and self.local.is_revoked(claims)

    def _apply(self, entry: Revocation) -> None:
        if entry.kind == RevocationKind.TOKEN:
            self.local.revoke_token(entry.value, until=entry.expires_at)
        elif entry.kind == RevocationKind.SESSION:
            self.local.revoke_session(entry.value, until=entry.expires_at)
        else:
            self.local.revoke_subject(entry.value, not_before=entry.not_before)
        self.broadcast.publish(entry)
