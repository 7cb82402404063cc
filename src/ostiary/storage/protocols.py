"""Small async Protocols for everything the server keeps. One contract suite
(``tests/contract/``) runs against every implementation: memory, SQLite, PostgreSQL (and Redis
where one exists).

Implementations raise :class:`Conflict` for a uniqueness violation, :class:`StorageError` for any
other failure of the backend (unreachable, timed out), and never leak their driver's exceptions.
Updates and deletes of a record that does not exist change nothing and raise nothing.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Final, Protocol

from ostiary.storage.records import (
    AuditEvent,
    AuthorizationCode,
    BrowserSession,
    Client,
    Consent,
    KeyStatus,
    LoginSession,
    RefreshToken,
    Revocation,
    Rotation,
    StoredKey,
    User,
)


class StorageError(Exception):
    """The backend failed: unreachable, timed out, or refused the operation."""


class Conflict(StorageError):
    """A record with the same unique key exists already."""


class UserStore(Protocol):
    async def create(self, user: User) -> None:
        """Insert; :class:`Conflict` if the id or the normalized username is taken."""

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_username(self, username: str) -> User | None:
        """By normalized username (the caller normalizes)."""

    async def update(self, user: User) -> None:
        """Replace the record with the same id (username changes may :class:`Conflict`)."""

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[User]:
        """Ordered by ``created_at``, then id; :class:`ValueError` if either bound is negative."""


class SessionStore(Protocol):
    """Login sessions (a refresh-token family each: :class:`LoginSession`) and their tokens."""

    async def create(self, session: LoginSession, first_token: RefreshToken) -> None:
        """Start a family with its first refresh token, atomically. :class:`Conflict` if the
        session id or the token hash exists; :class:`ValueError` if the token is of another
        family."""

    async def get(self, session_id: str) -> LoginSession | None: ...

    async def find_token(self, token_hash: str) -> tuple[RefreshToken, LoginSession] | None:
        """The refresh token with this hash and its family."""

    async def rotate(
        self,
        old_hash: str,
        successor_hash: str,
        *,
        now: float,
        active_since: float,
        client_id: str | None = None,
    ) -> Rotation | None:
        """In one transaction, find the token ``old_hash`` and its family (None if there is no
        such token). If the token is unused and the family live, used at or after
        ``active_since`` and (given ``client_id``) that client's, mark the token used at
        ``now``, add ``successor_hash`` to the family (issued at ``now``) and set the family's
        ``last_used_at`` to ``now``: ``rotated`` is True. Otherwise change nothing:
        ``rotated`` is False and the records returned say why; a token that still reads unused
        (of the right client) lost to a concurrent rotation. Of any number of
        concurrent calls for one token, exactly one rotates. A family is live if unrevoked and
        ``expires_at > now``. :class:`Conflict` if ``successor_hash`` exists (changing
        nothing)."""

    async def rotate_for_live_user(
        self,
        old_hash: str,
        successor_hash: str,
        *,
        now: float,
        active_since: float,
        client_id: str | None = None,
        check: Callable[[LoginSession], None] | None = None,
    ) -> tuple[Rotation, User | None] | None:
        """:meth:`rotate`, reading the family's user in the same transaction (a refresh is one
        round of the database): the token rotates only if :meth:`rotate` would rotate it and,
        besides, the user exists and is not disabled. Returns the rotation as :meth:`rotate`
        does and the user as found (None if there is none); None if there is no such token.
        ``check`` is called with the family as found (if it is ``client_id``'s) before the
        transaction commits, whether the token rotates or not: what it raises is raised as it
        is, and nothing changes. Of any number of concurrent calls for one token, exactly one
        rotates. :class:`Conflict` if ``successor_hash`` exists (changing nothing)."""

    async def revoke(
        self,
        *,
        now: float,
        session_id: str | None = None,
        user_id: str | None = None,
        browser_session_id: str | None = None,
        client_id: str | None = None,
    ) -> list[LoginSession]:
        """Revoke one family, every live family of a user, every live family issued under
        a browser session, or every live family of a client; return those revoked now,
        newest first. Exactly one of the four (:class:`ValueError` otherwise); a family
        already revoked or expired is left as it is and not returned."""

    async def list_for_user(self, user_id: str, *, now: float) -> Sequence[LoginSession]:
        """Live (unrevoked, unexpired) families of a user, newest first."""


class RevocationStore(Protocol):
    """The access-token revocation feed."""

    async def add(self, revocation: Revocation) -> Revocation:
        """Append; returns the entry with its ``seq`` (strictly increasing)."""

    async def since(self, seq: int, *, limit: int = 1000) -> Sequence[Revocation]:
        """Entries with ``seq`` greater than ``seq``, in order; :class:`ValueError` if
        ``limit`` is negative."""

    async def purge(self, *, now: float) -> int:
        """Delete entries whose ``expires_at`` is before ``now``; return how many.
        Purging never lets a later ``add`` reuse a ``seq``."""


#: The notice that is not a revocation's ``seq``: "the signing keys changed, read them again".
KEYS_CHANGED: Final = -1


class RevocationNotices(Protocol):
    """A channel between processes that says "revocations up to ``seq`` are in the store".

    A notice only wakes a listener, which then reads the store from its own cursor: the store
    stays the source of truth, so a lost notice costs latency, never a revocation. The same
    channel carries :data:`KEYS_CHANGED`, after which a listener reads the signing keys again.
    """

    async def publish(self, seq: int) -> None:
        """Tell every listener that the entry ``seq`` has been committed (or, for
        :data:`KEYS_CHANGED`, that the signing keys changed)."""

    def listen(self) -> AsyncGenerator[int, None]:
        """Subscribe: yields ``0`` once subscribed (read the store now: anything committed
        before is not announced again), then the ``seq`` of each notice, or
        :data:`KEYS_CHANGED`. Raises when the channel is lost; never ends otherwise."""
        ...

    async def close(self) -> None:
        """Release the connections of :meth:`publish`."""


class KeyStore(Protocol):
    async def list(self) -> Sequence[StoredKey]:
        """Every key, ordered by ``created_at``, then kid."""

    async def add(self, key: StoredKey) -> None:
        """Insert; :class:`Conflict` if the kid exists."""

    async def set_status(
        self,
        kid: str,
        status: KeyStatus,
        *,
        activated_at: float | None = None,
        retired_at: float | None = None,
    ) -> None:
        """Set the status; a time left ``None`` keeps its stored value."""

    async def delete(self, kid: str) -> None: ...


class LeaseStore(Protocol):
    """Named leases, so that exactly one of several server processes does a periodic job
    (key rotation, purges)."""

    async def acquire(self, name: str, *, holder: str, now: float, ttl: float) -> bool:
        """Take the lease if it is free, expired (``expires_at <= now``), or already
        ``holder``'s, until ``now + ttl``; True if held."""

    async def release(self, name: str, *, holder: str) -> None: ...


class ClientStore(Protocol):
    """Registered OAuth clients."""

    async def create(self, client: Client) -> None:
        """Insert; :class:`Conflict` if the id exists."""

    async def get(self, client_id: str) -> Client | None: ...

    async def update(self, client: Client) -> None:
        """Replace the record with the same id."""

    async def delete(self, client_id: str) -> bool:
        """Delete; True if it existed."""

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[Client]:
        """Ordered by ``created_at``, then id; :class:`ValueError` if either bound is negative."""


class AuthorizationCodeStore(Protocol):
    """Authorization codes: single use, decided by the store (RFC 6749 §4.1.2)."""

    async def add(self, code: AuthorizationCode) -> None:
        """Insert; :class:`Conflict` if the hash exists."""

    async def consume(self, code_hash: str, *, now: float) -> AuthorizationCode | None:
        """Atomically mark the code used at ``now`` if it is unused, and return the record as
        it was before: ``used_at`` None means this call consumed it; a ``used_at`` means it
        had been used (reuse). None if there is no such code. Of any number of concurrent
        calls for one code, exactly one sees ``used_at`` None."""

    async def attach_session(self, code_hash: str, session_id: str) -> None:
        """Record the refresh family issued for the code."""

    async def purge(self, *, now: float) -> int:
        """Delete codes that expired before ``now``; return how many."""


class BrowserSessionStore(Protocol):
    """Signed-in browsers (single sign-on)."""

    async def create(self, session: BrowserSession) -> None:
        """Insert; :class:`Conflict` if the id exists."""

    async def get(self, session_id: str) -> BrowserSession | None: ...

    async def revoke(self, session_id: str, *, now: float) -> BrowserSession | None:
        """Set ``revoked_at`` if unset; return the session revoked now, else None."""

    async def revoke_user(self, user_id: str, *, now: float) -> list[BrowserSession]:
        """Revoke every live (unrevoked, unexpired) session of a user; return those revoked
        now, newest first."""

    async def list_for_user(self, user_id: str, *, now: float) -> Sequence[BrowserSession]:
        """Live (unrevoked, unexpired) sessions of a user, newest first."""

    async def purge(self, *, now: float) -> int:
        """Delete sessions whose ``expires_at`` is before ``now`` (revoked or not); return how
        many. A session revoked but unexpired is kept."""


class ConsentStore(Protocol):
    """What users granted third-party clients."""

    async def get(self, user_id: str, client_id: str) -> Consent | None: ...

    async def put(self, consent: Consent) -> None:
        """Insert or replace the consent of that user for that client."""

    async def delete(self, user_id: str, client_id: str) -> None: ...


class OnceStore(Protocol):
    """Values that may be seen once until they expire: the ``jti`` of client assertions
    (RFC 7523 §3, replay protection)."""

    async def first_use(self, key: str, *, expires_at: float, now: float) -> bool:
        """True the first time ``key`` is presented (and remember it until ``expires_at``);
        False while it is remembered. Of any number of concurrent calls for one key, exactly
        one gets True. Entries expired before ``now`` may be forgotten."""

    async def purge(self, *, now: float) -> int:
        """Delete entries whose ``expires_at`` is before ``now``; return how many (of those
        not forgotten already). A purged key may be used again."""


class AuditStore(Protocol):
    """The audit trail: events appended in ``seq`` order, read back with filters."""

    async def add(self, event: AuditEvent) -> AuditEvent:
        """Append; returns the event with its ``seq`` (strictly increasing)."""

    async def add_many(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Append several in one transaction, in order; returns them with their ``seq``."""

    async def query(
        self,
        *,
        since_seq: int = 0,
        kind: str | None = None,
        subject: str | None = None,
        actor: str | None = None,
        limit: int = 100,
        latest: bool = False,
    ) -> Sequence[AuditEvent]:
        """Events with ``seq`` greater than ``since_seq`` matching every filter given, in
        ``seq`` order: the first ``limit`` of them, or with ``latest`` the last ``limit`` (what
        ``audit tail`` shows first); :class:`ValueError` if ``limit`` is negative."""

    async def purge(self, *, before: float) -> int:
        """Delete events whose ``time`` is before ``before``; return how many. Purging never
        lets a later ``add`` reuse a ``seq``."""


class Storage(Protocol):
    """Every store of one backend, plus its lifecycle."""

    users: UserStore
    #: Login sessions (a refresh-token family each), not the browsers' SSO sessions.
    sessions: SessionStore
    revocations: RevocationStore
    keys: KeyStore
    leases: LeaseStore
    clients: ClientStore
    codes: AuthorizationCodeStore
    browser_sessions: BrowserSessionStore
    consents: ConsentStore
    once: OnceStore
    audit: AuditStore

    async def close(self) -> None: ...
