"""Refresh-token families with rotation and reuse detection (RFC 9700 §4.14.2, RFC 6749 §6).

A refresh token is an opaque random string; only its SHA-256 digest is stored. Each use
exchanges it for a successor. Presenting a token a second time means it was copied: the whole
family (the session) is revoked, because the server cannot tell the thief from the user.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final, NamedTuple

from ostiary.clock import DAY, SYSTEM_CLOCK, Clock
from ostiary.encoding import b64url, sha256_hex
from ostiary.errors import ConfigurationError, InvalidGrant, RefreshTokenReused
from ostiary.storage.protocols import Conflict, SessionStore
from ostiary.storage.records import LoginSession, RefreshToken, Rotation, User

DEFAULT_ABSOLUTE_TTL: Final = 30 * DAY
DEFAULT_IDLE_TTL: Final = 7 * DAY
#: Far above the 43 characters of a real token; longer input is refused before hashing.
MAX_TOKEN_LENGTH: Final = 256
MAX_USER_AGENT_LENGTH: Final = 512
MIN_SECRET_BYTES: Final = 32


class IssuedRefresh(NamedTuple):
    session: LoginSession
    #: The plaintext refresh token: handed to the client once, never stored nor logged.
    token: str


class LiveRotation(NamedTuple):
    """What :meth:`RefreshTokens.rotate_for_live_user` did."""

    #: The token's family, as found.
    session: LoginSession
    #: Its user, as found (None if there is none).
    user: User | None
    #: The successor; None if nothing rotated: the user is gone or disabled (nothing
    #: changed), or the token was reused (``reused``: the family was revoked).
    issued: IssuedRefresh | None
    reused: bool = False


def hash_refresh_token(token: str) -> str:
    return sha256_hex(token)


def new_session_id() -> str:
    return "ses_" + secrets.token_urlsafe(16)


class RefreshTokens:
    """Starts, rotates and revokes refresh-token families.

    With ``grace_seconds`` > 0, a token used less than that long ago is answered with the same
    successor again instead of being treated as reuse, for a client whose first response got
    lost. Successors are then derived as HMAC-SHA256(``secret``, token), so the retry can be
    answered without storing any plaintext.
    """

    def __init__(
        self,
        sessions: SessionStore,
        *,
        clock: Clock = SYSTEM_CLOCK,
        absolute_ttl: float = DEFAULT_ABSOLUTE_TTL,
        idle_ttl: float = DEFAULT_IDLE_TTL,
        grace_seconds: float = 0.0,
        secret: bytes | None = None,
    ) -> None:
        if absolute_ttl <= 0 or idle_ttl <= 0 or grace_seconds < 0:
            raise ConfigurationError("refresh-token lifetimes must be positive")
        if grace_seconds > 0 and (secret is None or len(secret) < MIN_SECRET_BYTES):
            raise ConfigurationError(
                f"a refresh grace window needs a secret of at least {MIN_SECRET_BYTES} bytes"
            )
        self._sessions = sessions
        self._clock = clock
        self.absolute_ttl = absolute_ttl
        self.idle_ttl = idle_ttl
        self.grace_seconds = grace_seconds
        self._secret = secret

    async def start(
        self,
        *,
        user_id: str,
        client_id: str,
        scope: str,
        user_agent: str | None = None,
        address: str | None = None,
        browser_session_id: str | None = None,
        audiences: tuple[str, ...] = (),
        dpop_jkt: str | None = None,
    ) -> IssuedRefresh:
        """A new family (a login, or an authorization code exchanged) and its first refresh
        token; ``dpop_jkt`` binds the family to that DPoP key (RFC 9449 §5)."""
        now = self._clock.now()
        session = LoginSession(
            id=new_session_id(),
            user_id=user_id,
            client_id=client_id,
            scope=scope,
            created_at=now,
            last_used_at=now,
            expires_at=now + self.absolute_ttl,
            user_agent=user_agent[:MAX_USER_AGENT_LENGTH] if user_agent else None,
            address=address,
            browser_session_id=browser_session_id,
            audiences=audiences,
            dpop_jkt=dpop_jkt,
        )
        token = secrets.token_urlsafe(32)
        first = RefreshToken(hash_refresh_token(token), session.id, issued_at=now)
        await self._sessions.create(session, first)
        return IssuedRefresh(session, token)

    async def rotate(self, token: str, *, client_id: str | None = None) -> IssuedRefresh:
        """Exchange ``token`` for its successor (RFC 6749 §6, rotation per RFC 9700 §4.14.2).

        Raises :class:`~ostiary.errors.InvalidGrant` for an unknown, revoked or expired token,
        or (given ``client_id``) one of another client's family, which is left untouched: a
        refresh token is bound to its client (RFC 6749 §6, §10.4); and
        :class:`~ostiary.errors.RefreshTokenReused` (after revoking the family) for reuse.
        """
        done = await self._rotate(token, client_id, for_live_user=False)
        if done.issued is None:
            session = done.session
            raise RefreshTokenReused(session_id=session.id, user_id=session.user_id)
        return done.issued

    async def rotate_for_live_user(
        self, token: str, *, client_id: str, check: Callable[[LoginSession], None] | None = None
    ) -> LiveRotation:
        """:meth:`rotate`, the family's user read in the same store transaction (a refresh is
        one round of the database), and the token exchanged only if that user exists and is
        not disabled. ``check`` is called with the family in that transaction, before it
        commits: what it raises is raised, and nothing changes (the token stays usable).
        Raises :class:`~ostiary.errors.InvalidGrant` as :meth:`rotate` does; reuse (the
        family revoked, RFC 9700 §4.14.2) and a user gone or disabled (nothing changed) are
        returned, with the family, for the caller to end its session."""
        return await self._rotate(token, client_id, for_live_user=True, check=check)

    async def _rotate(
        self,
        token: str,
        client_id: str | None,
        *,
        for_live_user: bool,
        check: Callable[[LoginSession], None] | None = None,
    ) -> LiveRotation:
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
            raise InvalidGrant(detail="refresh token of impossible length")
        old_hash = hash_refresh_token(token)
        now = self._clock.now()
        successor = self._successor(token)
        successor_hash = hash_refresh_token(successor)
        found = await self._exchange(old_hash, successor_hash, now, client_id, for_live_user, check)
        if found is None:
            raise InvalidGrant(detail="unknown refresh token")
        (record, session, rotated), user = found
        if rotated:
            touched = replace(session, last_used_at=now)
            return LiveRotation(touched, user, IssuedRefresh(touched, successor))
        if client_id is not None and session.client_id != client_id:
            raise InvalidGrant(detail=f"refresh token of {session.client_id} sent by {client_id}")
        if for_live_user and (user is None or user.disabled):
            return LiveRotation(session, user, None)
        self._check_live(session, now)
        if record.used_at is None:
            self._check_not_idle(session, now)
            # Unused, live and active, and yet not rotated: another request exchanged it first.
            record, session = await self._reread(old_hash, now)
            if record.used_at is None:  # the store refused for no reason we can see
                raise InvalidGrant(detail="refresh token rotation was refused")
        issued = await self._answer_used(token, record.used_at, session, now)
        return LiveRotation(session, user, issued, reused=issued is None)

    async def _exchange(
        self,
        old_hash: str,
        successor_hash: str,
        now: float,
        client_id: str | None,
        for_live_user: bool,
        check: Callable[[LoginSession], None] | None,
    ) -> tuple[Rotation, User | None] | None:
        """The store's rotation (and the family's user). A :class:`Conflict` means a
        concurrent retry inserted the same derived successor first: asked again, the store
        finds the token used."""
        for _ in range(2):
            try:
                return await self._store_rotation(
                    old_hash, successor_hash, now, client_id, for_live_user, check
                )
            except Conflict:
                continue
        raise InvalidGrant(detail="refresh token rotation conflicted twice")

    async def _store_rotation(
        self,
        old_hash: str,
        successor_hash: str,
        now: float,
        client_id: str | None,
        for_live_user: bool,
        check: Callable[[LoginSession], None] | None,
    ) -> tuple[Rotation, User | None] | None:
        active_since = now - self.idle_ttl
        if for_live_user:
            return await self._sessions.rotate_for_live_user(
                old_hash,
                successor_hash,
                now=now,
                active_since=active_since,
                client_id=client_id,
                check=check,
            )
        found = await self._sessions.rotate(
            old_hash, successor_hash, now=now, active_since=active_since, client_id=client_id
        )
        return None if found is None else (found, None)

    async def find(self, token: str) -> tuple[RefreshToken, LoginSession] | None:
        """The stored record of ``token`` and its family, whatever their state."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
            return None
        return await self._sessions.find_token(hash_refresh_token(token))

    def is_active(self, record: RefreshToken, session: LoginSession) -> bool:
        """Would ``record`` be exchanged now (unused, family live and not idle)?"""
        now = self._clock.now()
        return (
            record.used_at is None
            and session.revoked_at is None
            and now < session.expires_at
            and now - session.last_used_at <= self.idle_ttl
        )

    def expires_in(self, session: LoginSession) -> int:
        """Seconds until the family's current refresh token stops working unused: the sooner
        of its idle timeout and its absolute end (``refresh_token_expires_in``)."""
        end = min(session.expires_at, session.last_used_at + self.idle_ttl)
        return max(0, int(end - self._clock.now()))

    @property
    def store(self) -> SessionStore:
        """The families' store, for :class:`~ostiary.tokens.lifecycle.SessionLifecycle`."""
        return self._sessions

    # --- revocation and listing ------------------------------------------------------------

    async def revoke_session(
        self, session_id: str, *, user_id: str | None = None
    ) -> LoginSession | None:
        """Revoke one family; with ``user_id``, only if it is that user's. Returns the session
        revoked now, or None (unknown, someone else's, or revoked already)."""
        if user_id is not None:
            session = await self._sessions.get(session_id)
            if session is None or session.user_id != user_id:
                return None
        revoked = await self._sessions.revoke(now=self._clock.now(), session_id=session_id)
        return revoked[0] if revoked else None

    async def revoke_user(self, user_id: str, *, keep: str | None = None) -> list[LoginSession]:
        """Revoke every family of a user, except the session ``keep`` (after a password change
        the session that made it stays)."""
        now = self._clock.now()
        if keep is None:
            return await self._sessions.revoke(now=now, user_id=user_id)
        revoked: list[LoginSession] = []
        for session in await self._sessions.list_for_user(user_id, now=now):
            if session.id != keep:
                revoked += await self._sessions.revoke(now=now, session_id=session.id)
        return revoked

    async def list_sessions(self, user_id: str) -> Sequence[LoginSession]:
        """The user's live sessions (neither revoked, expired nor idle), newest first."""
        now = self._clock.now()
        sessions = await self._sessions.list_for_user(user_id, now=now)
        return [s for s in sessions if now - s.last_used_at <= self.idle_ttl]

    # --- the steps of rotate ---------------------------------------------------------------

    def _check_live(self, session: LoginSession, now: float) -> None:
        if session.revoked_at is not None:
            raise InvalidGrant(detail=f"session {session.id} is revoked")
        if now >= session.expires_at:
            raise InvalidGrant(detail=f"session {session.id} reached its absolute lifetime")

    def _check_not_idle(self, session: LoginSession, now: float) -> None:
        if now - session.last_used_at > self.idle_ttl:
            raise InvalidGrant(detail=f"session {session.id} was idle too long")

    def _successor(self, token: str) -> str:
        if self._secret is None or self.grace_seconds <= 0:
            return secrets.token_urlsafe(32)
        digest = hmac.new(self._secret, token.encode("utf-8"), hashlib.sha256).digest()
        return b64url(digest)

    async def _answer_used(
        self, token: str, used_at: float, session: LoginSession, now: float
    ) -> IssuedRefresh | None:
        """A token exchanged before: within the grace window, the same successor again;
        otherwise reuse: the family is revoked and None returned."""
        if self.grace_seconds > 0 and now - used_at < self.grace_seconds:
            successor = self._successor(token)
            found = await self._sessions.find_token(hash_refresh_token(successor))
            # Only while the successor itself is unused: otherwise the chain moved on.
            if found is not None and found[1].id == session.id and found[0].used_at is None:
                return IssuedRefresh(found[1], successor)
        await self._sessions.revoke(now=now, session_id=session.id)
        return None

    async def _reread(self, old_hash: str, now: float) -> tuple[RefreshToken, LoginSession]:
        """The token and its family again, after a concurrent rotation won."""
        found = await self._sessions.find_token(old_hash)
        if found is None:
            raise InvalidGrant(detail="refresh token vanished during rotation")
        self._check_live(found[1], now)
        return found
