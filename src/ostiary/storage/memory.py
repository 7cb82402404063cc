"""The reference implementation of the storage Protocols, kept in dicts.

No method awaits between reading and writing its state, so under asyncio each call is atomic:
that is what makes :meth:`MemorySessionStore.rotate`, :meth:`MemoryAuthorizationCodeStore.consume`
and :meth:`MemoryOnceStore.first_use` compare-and-sets. For tests and for a single-process
development server; everything is lost when the process ends.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence

from ostiary.storage._checks import check_family, check_page, check_revoke_target, is_live
from ostiary.storage.protocols import (
    AuditStore,
    AuthorizationCodeStore,
    BrowserSessionStore,
    ClientStore,
    Conflict,
    ConsentStore,
    KeyStore,
    LeaseStore,
    OnceStore,
    RevocationStore,
    SessionStore,
    UserStore,
)
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


class MemoryUserStore:
    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._ids_by_username: dict[str, str] = {}

    async def create(self, user: User) -> None:
        if user.id in self._users or user.username in self._ids_by_username:
            raise Conflict(f"user {user.id!r} or its username exists")
        self._users[user.id] = user
        self._ids_by_username[user.username] = user.id

    async def get(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def peek(self, user_id: str) -> User | None:
        """:meth:`get` without awaiting: for the session store's atomic rotation."""
        return self._users.get(user_id)

    async def get_by_username(self, username: str) -> User | None:
        user_id = self._ids_by_username.get(username)
        return None if user_id is None else self._users[user_id]

    async def update(self, user: User) -> None:
        old = self._users.get(user.id)
        if old is None:
            return
        if self._ids_by_username.get(user.username, user.id) != user.id:
            raise Conflict("the username is taken")
        del self._ids_by_username[old.username]
        self._ids_by_username[user.username] = user.id
        self._users[user.id] = user

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[User]:
        check_page(offset=offset, limit=limit)
        ordered = sorted(self._users.values(), key=lambda u: (u.created_at, u.id))
        return ordered[offset : offset + limit]


class MemorySessionStore:
    """Login sessions (a refresh-token family each) and their tokens, in dicts.

    ``users``: where :meth:`rotate_for_live_user` finds a family's user (none by default)."""

    def __init__(self, users: MemoryUserStore | None = None) -> None:
        self._sessions: dict[str, LoginSession] = {}
        self._tokens: dict[str, RefreshToken] = {}
        self._users = users if users is not None else MemoryUserStore()

    async def create(self, session: LoginSession, first_token: RefreshToken) -> None:
        check_family(first_token, session.id)
        if session.id in self._sessions or first_token.token_hash in self._tokens:
            raise Conflict("the session id or the token hash exists")
        self._sessions[session.id] = session
        self._tokens[first_token.token_hash] = first_token

    async def get(self, session_id: str) -> LoginSession | None:
        return self._sessions.get(session_id)

    async def find_token(self, token_hash: str) -> tuple[RefreshToken, LoginSession] | None:
        token = self._tokens.get(token_hash)
        if token is None:
            return None
        return token, self._sessions[token.session_id]

    async def rotate(
        self,
        old_hash: str,
        successor_hash: str,
        *,
        now: float,
        active_since: float,
        client_id: str | None = None,
    ) -> Rotation | None:
        return self._rotate(old_hash, successor_hash, now, active_since, client_id)

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
        old = self._tokens.get(old_hash)
        if old is None:
            return None
        session = self._sessions[old.session_id]
        if check is not None and (client_id is None or session.client_id == client_id):
            check(session)
        user = self._users.peek(session.user_id)
        live = user is not None and not user.disabled
        rotation = self._rotate(old_hash, successor_hash, now, active_since, client_id, live)
        return None if rotation is None else (rotation, user)

    def _rotate(
        self,
        old_hash: str,
        successor_hash: str,
        now: float,
        active_since: float,
        client_id: str | None,
        user_live: bool = True,
    ) -> Rotation | None:
        old = self._tokens.get(old_hash)
        if old is None:
            return None
        session = self._sessions[old.session_id]
        if (
            not user_live
            or (client_id is not None and session.client_id != client_id)
            or old.used_at is not None
            or not is_live(session, now)
            or session.last_used_at < active_since
        ):
            return Rotation(old, session, rotated=False)
        if successor_hash in self._tokens:
            raise Conflict("the successor's hash exists")
        self._tokens[old_hash] = dataclasses.replace(old, used_at=now)
        self._tokens[successor_hash] = RefreshToken(successor_hash, session.id, issued_at=now)
        self._sessions[session.id] = dataclasses.replace(session, last_used_at=now)
        return Rotation(old, session, rotated=True)

    async def revoke(
        self,
        *,
        now: float,
        session_id: str | None = None,
        user_id: str | None = None,
        browser_session_id: str | None = None,
        client_id: str | None = None,
    ) -> list[LoginSession]:
        check_revoke_target(session_id, user_id, browser_session_id, client_id)
        if session_id is not None:
            found = self._sessions.get(session_id)
            targets = [] if found is None else [found]
        elif user_id is not None:
            targets = [s for s in self._sessions.values() if s.user_id == user_id]
        elif client_id is not None:
            targets = [s for s in self._sessions.values() if s.client_id == client_id]
        else:
            targets = [
                s for s in self._sessions.values() if s.browser_session_id == browser_session_id
            ]
        revoked = [dataclasses.replace(s, revoked_at=now) for s in targets if is_live(s, now)]
        for session in revoked:
            self._sessions[session.id] = session
        return _newest_first(revoked)

    async def list_for_user(self, user_id: str, *, now: float) -> Sequence[LoginSession]:
        return _newest_first(
            s for s in self._sessions.values() if s.user_id == user_id and is_live(s, now)
        )


def _newest_first(sessions: Iterable[LoginSession]) -> list[LoginSession]:
    return sorted(sessions, key=lambda s: (s.created_at, s.id), reverse=True)


class MemoryRevocationStore:
    def __init__(self) -> None:
        self._entries: list[Revocation] = []
        self._last_seq = 0

    async def add(self, revocation: Revocation) -> Revocation:
        self._last_seq += 1
        entry = dataclasses.replace(revocation, seq=self._last_seq)
        self._entries.append(entry)
        return entry

    async def since(self, seq: int, *, limit: int = 1000) -> Sequence[Revocation]:
        check_page(limit=limit)
        return [e for e in self._entries if e.seq > seq][:limit]

    async def purge(self, *, now: float) -> int:
        kept = [e for e in self._entries if e.expires_at >= now]
        purged = len(self._entries) - len(kept)
        self._entries = kept
        return purged


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, StoredKey] = {}

    async def list(self) -> Sequence[StoredKey]:
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.kid))

    async def add(self, key: StoredKey) -> None:
        if key.kid in self._keys:
            raise Conflict(f"key {key.kid!r} exists")
        self._keys[key.kid] = key

    async def set_status(
        self,
        kid: str,
        status: KeyStatus,
        *,
        activated_at: float | None = None,
        retired_at: float | None = None,
    ) -> None:
        key = self._keys.get(kid)
        if key is None:
            return
        self._keys[kid] = dataclasses.replace(
            key,
            status=status,
            activated_at=key.activated_at if activated_at is None else activated_at,
            retired_at=key.retired_at if retired_at is None else retired_at,
        )

    async def delete(self, kid: str) -> None:
        self._keys.pop(kid, None)


class MemoryLeaseStore:
    def __init__(self) -> None:
        self._leases: dict[str, tuple[str, float]] = {}

    async def acquire(self, name: str, *, holder: str, now: float, ttl: float) -> bool:
        current = self._leases.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._leases[name] = (holder, now + ttl)
        return True

    async def release(self, name: str, *, holder: str) -> None:
        current = self._leases.get(name)
        if current is not None and current[0] == holder:
            del self._leases[name]


class MemoryClientStore:
    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}

    async def create(self, client: Client) -> None:
        if client.id in self._clients:
            raise Conflict(f"client {client.id!r} exists")
        self._clients[client.id] = client

    async def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    async def update(self, client: Client) -> None:
        if client.id in self._clients:
            self._clients[client.id] = client

    async def delete(self, client_id: str) -> bool:
        return self._clients.pop(client_id, None) is not None

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[Client]:
        check_page(offset=offset, limit=limit)
        ordered = sorted(self._clients.values(), key=lambda c: (c.created_at, c.id))
        return ordered[offset : offset + limit]


class MemoryAuthorizationCodeStore:
    def __init__(self) -> None:
        self._codes: dict[str, AuthorizationCode] = {}

    async def add(self, code: AuthorizationCode) -> None:
        if code.code_hash in self._codes:
            raise Conflict("the code hash exists")
        self._codes[code.code_hash] = code

    async def consume(self, code_hash: str, *, now: float) -> AuthorizationCode | None:
        code = self._codes.get(code_hash)
        if code is not None and code.used_at is None:
            self._codes[code_hash] = dataclasses.replace(code, used_at=now)
        return code

    async def attach_session(self, code_hash: str, session_id: str) -> None:
        code = self._codes.get(code_hash)
        if code is not None:
            self._codes[code_hash] = dataclasses.replace(code, session_id=session_id)

    async def purge(self, *, now: float) -> int:
        expired = [h for h, code in self._codes.items() if code.expires_at < now]
        for code_hash in expired:
            del self._codes[code_hash]
        return len(expired)


class MemoryBrowserSessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, BrowserSession] = {}

    async def create(self, session: BrowserSession) -> None:
        if session.id in self._sessions:
            raise Conflict(f"browser session {session.id!r} exists")
        self._sessions[session.id] = session

    async def get(self, session_id: str) -> BrowserSession | None:
        return self._sessions.get(session_id)

    async def revoke(self, session_id: str, *, now: float) -> BrowserSession | None:
        session = self._sessions.get(session_id)
        if session is None or session.revoked_at is not None:
            return None
        revoked = self._sessions[session_id] = dataclasses.replace(session, revoked_at=now)
        return revoked

    async def revoke_user(self, user_id: str, *, now: float) -> list[BrowserSession]:
        revoked = [
            dataclasses.replace(s, revoked_at=now)
            for s in await self.list_for_user(user_id, now=now)
        ]
        for session in revoked:
            self._sessions[session.id] = session
        return revoked

    async def list_for_user(self, user_id: str, *, now: float) -> Sequence[BrowserSession]:
        return sorted(
            (
                s
                for s in self._sessions.values()
                if s.user_id == user_id and s.revoked_at is None and now < s.expires_at
            ),
            key=lambda s: (s.created_at, s.id),
            reverse=True,
        )

    async def purge(self, *, now: float) -> int:
        expired = [i for i, session in self._sessions.items() if session.expires_at < now]
        for session_id in expired:
            del self._sessions[session_id]
        return len(expired)


class MemoryConsentStore:
    def __init__(self) -> None:
        self._consents: dict[tuple[str, str], Consent] = {}

    async def get(self, user_id: str, client_id: str) -> Consent | None:
        return self._consents.get((user_id, client_id))

    async def put(self, consent: Consent) -> None:
        self._consents[consent.user_id, consent.client_id] = consent

    async def delete(self, user_id: str, client_id: str) -> None:
        self._consents.pop((user_id, client_id), None)


class MemoryOnceStore:
    def __init__(self) -> None:
        self._expiries: dict[str, float] = {}
        # (expires_at, key), soonest first: each call forgets what has expired, so the dict
        # holds no more than the keys still remembered.
        self._queue: list[tuple[float, str]] = []

    async def first_use(self, key: str, *, expires_at: float, now: float) -> bool:
        self._forget(now)
        if key in self._expiries:
            return False
        # Remembered at least until now: a concurrent call at the same time must see it.
        until = max(expires_at, now)
        self._expiries[key] = until
        heapq.heappush(self._queue, (until, key))
        return True

    async def purge(self, *, now: float) -> int:
        return self._forget(now)

    def _forget(self, now: float) -> int:
        """Forget the keys that expired before ``now``; return how many."""
        forgotten = 0
        while self._queue and self._queue[0][0] < now:
            expired, old_key = heapq.heappop(self._queue)
            # A stale queue entry: the key was used again since, with a later expiry.
            if self._expiries.get(old_key) == expired:
                del self._expiries[old_key]
                forgotten += 1
        return forgotten


class MemoryAuditStore:
    def __init__(self) -> None:
        self._events: list[AuditEvent] = []
        self._last_seq = 0

    async def add(self, event: AuditEvent) -> AuditEvent:
        self._last_seq += 1
        entry = dataclasses.replace(event, data=dict(event.data), seq=self._last_seq)
        self._events.append(entry)
        return entry

    async def add_many(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        return [await self.add(event) for event in events]

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
        check_page(limit=limit)
        found = (
            e
            for e in (reversed(self._events) if latest else self._events)
            if e.seq > since_seq
            and (kind is None or e.kind == kind)
            and (subject is None or e.subject == subject)
            and (actor is None or e.actor == actor)
        )
        page = list(itertools.islice(found, limit))
        return page[::-1] if latest else page

    async def purge(self, *, before: float) -> int:
        kept = [e for e in self._events if e.time >= before]
        purged = len(self._events) - len(kept)
        self._events = kept
        return purged


class MemoryStorage:
    """Every store in memory; :meth:`close` does nothing."""

    def __init__(self) -> None:
        users = MemoryUserStore()
        self.users: UserStore = users
        self.sessions: SessionStore = MemorySessionStore(users)
        self.revocations: RevocationStore = MemoryRevocationStore()
        self.keys: KeyStore = MemoryKeyStore()
        self.leases: LeaseStore = MemoryLeaseStore()
        self.clients: ClientStore = MemoryClientStore()
        self.codes: AuthorizationCodeStore = MemoryAuthorizationCodeStore()
        self.browser_sessions: BrowserSessionStore = MemoryBrowserSessionStore()
        self.consents: ConsentStore = MemoryConsentStore()
        self.once: OnceStore = MemoryOnceStore()
        self.audit: AuditStore = MemoryAuditStore()

    async def close(self) -> None:
        return None
