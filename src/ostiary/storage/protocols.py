"""Small async Protocols for everything the server keeps. One contract suite
(``tests/contract/``) runs against every implementation: memory, SQLite, PostgreSQL (and Redis
where one exists).

Implementations raise :class:`Conflict` for a uniqueness violation, :class:`StorageError` for any
other failure of the backend (unreachable, timed out), and never leak their driver's exceptions.
Updates and deletes of a record that does not exist change nothing and raise nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ostiary.storage.records import (
    KeyStatus,
    RefreshToken,
    Revocation,
    Rotation,
    Session,
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
    """Refresh-token families and their tokens."""

    async def create(self, session: Session, first_token: RefreshToken) -> None:
        """Start a family with its first refresh token, atomically. :class:`Conflict` if the
        session id or the token hash exists; :class:`ValueError` if the token is of another
        family."""

    async def get(self, session_id: str) -> Session | None: ...

    async def find_token(self, token_hash: str) -> tuple[RefreshToken, Session] | None:
        """The refresh token with this hash and its family."""

    async def rotate(
        self, old_hash: str, successor_hash: str, *, now: float, active_since: float
    ) -> Rotation | None:
        """In one transaction, find the token ``old_hash`` and its family (None if there is no
        such token). If the token is unused and the family live and used at or after
        ``active_since``, mark the token used at ``now``, add ``successor_hash`` to the family
        (issued at ``now``) and set the family's ``last_used_at`` to ``now``: ``rotated`` is
        True. Otherwise change nothing: ``rotated`` is False and the records returned say why;
        a token that still reads unused lost to a concurrent rotation. Of any number of
        concurrent calls for one token, exactly one rotates. A family is live if unrevoked and
        ``expires_at > now``. :class:`Conflict` if ``successor_hash`` exists (changing
        nothing)."""

    async def revoke(
        self, *, now: float, session_id: str | None = None, user_id: str | None = None
    ) -> list[Session]:
        """Revoke one family, or every live family of a user; return those revoked now.
        Exactly one of ``session_id`` and ``user_id`` (:class:`ValueError` otherwise); a
        family already revoked or expired is left as it is and not returned."""

    async def list_for_user(self, user_id: str, *, now: float) -> Sequence[Session]:
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


class Storage(Protocol):
    """Every store of one backend, plus its lifecycle."""

    users: UserStore
    sessions: SessionStore
    revocations: RevocationStore
    keys: KeyStore
    leases: LeaseStore

    async def close(self) -> None: ...
