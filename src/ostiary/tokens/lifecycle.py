"""One session lifecycle (docs/architecture.md, "One session lifecycle").

A user signs in (password or single sign-on) → a **browser session** (the SSO cookie) may
exist → each grant opens a **refresh family** (the session of one client) → its access tokens
name it (``sid``). Here, and only here:

- one operation ends a session: its refresh family and its access tokens, or a browser
  session with every family issued under it;
- one operation ends every session of a user (log out everywhere, password change, account
  disabled or deleted, an administrator's action): families, browser sessions and access
  tokens;
- one operation ends every family of a client (the client deleted: RFC 6749 §10.4, its refresh
  tokens are bound to it);
- one check says a user may still hold a session: the account exists, is enabled, and its
  password has not changed since the sign-in the session comes from.

Whatever ends here is told to the :attr:`SessionLifecycle.listeners` as
:class:`~ostiary.tokens.session_events.SessionEnded` events (one per user and browser
session), after the revocations are published: Back-Channel Logout is one listener.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import InvalidGrant, RefreshTokenReused
from ostiary.revocation.service import Revocations
from ostiary.storage.protocols import BrowserSessionStore, UserStore
from ostiary.storage.records import BrowserSession, LoginSession, User
from ostiary.tokens.refresh import IssuedRefresh, RefreshTokens
from ostiary.tokens.session_events import SessionListener, events_for, notify


@dataclass(frozen=True, slots=True)
class Ended:
    """What one operation ended."""

    families: Sequence[LoginSession] = ()
    browsers: Sequence[BrowserSession] = ()

    def __len__(self) -> int:
        return len(self.families) + len(self.browsers)


@dataclass(frozen=True, slots=True)
class Refreshed:
    """A rotation that passed every check: the new refresh token, its family and its user."""

    issued: IssuedRefresh
    user: User

    @property
    def session(self) -> LoginSession:
        return self.issued.session


class SessionLifecycle:
    def __init__(
        self,
        families: RefreshTokens,
        revocations: Revocations,
        browsers: BrowserSessionStore,
        users: UserStore,
        *,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Iterable[SessionListener] = (),
    ) -> None:
        self.families = families
        self._revocations = revocations
        self._browsers = browsers
        self._users = users
        self._clock = clock
        #: Told of every session that ends (:mod:`ostiary.tokens.session_events`).
        self.listeners: list[SessionListener] = list(listeners)

    # --- ending sessions -------------------------------------------------------------------

    async def end_session(
        self, session_id: str, *, user_id: str | None = None
    ) -> LoginSession | None:
        """End one refresh family and refuse its access tokens at once (even if the family
        had ended already: a reuse the store detected ends the family, not its tokens); with
        ``user_id``, only if it is that user's. Returns the family if it ended now."""
        if user_id is not None:
            found = await self.families.store.get(session_id)
            if found is None or found.user_id != user_id:
                return None
        ended = await self.families.revoke_session(session_id)
        await self._revocations.revoke_session(session_id)
        if ended is not None:
            notify(self.listeners, events_for([ended]))
        return ended

    async def end_browser_session(
        self, browser_session_id: str, *, user_id: str | None = None
    ) -> bool:
        """End a signed-in browser, every family issued under it and their access tokens
        (OpenID Connect RP-Initiated Logout §2); with ``user_id``, only if it is that user's.
        True if it was live."""
        if user_id is not None:
            found = await self._browsers.get(browser_session_id)
            if found is None or found.user_id != user_id:
                return False
        now = self._clock.now()
        ended = await self._browsers.revoke(browser_session_id, now=now)
        families = await self.families.store.revoke(now=now, browser_session_id=browser_session_id)
        for family in families:
            await self._revocations.revoke_session(family.id)
        browsers = [(ended.id, ended.user_id)] if ended is not None else []
        notify(self.listeners, events_for(families, browsers=browsers))
        return ended is not None

    async def end_user_sessions(self, user_id: str, *, keep: str | None = None) -> Ended:
        """End every session of a user: each family but ``keep`` (the one that changed the
        password), every browser session, and the access tokens of them all. Without ``keep``
        every access token of the user issued until now is refused, sessions or not."""
        now = self._clock.now()
        families = await self.families.revoke_user(user_id, keep=keep)
        # The families issued under those browsers are the user's: ended above.
        browsers = await self._browsers.revoke_user(user_id, now=now)
        if keep is None:
            await self._revocations.revoke_subject(user_id)
        else:
            for family in families:
                await self._revocations.revoke_session(family.id)
        ended_browsers = [(browser.id, browser.user_id) for browser in browsers]
        notify(self.listeners, events_for(families, browsers=ended_browsers))
        return Ended(families, browsers)

    async def end_client_sessions(self, client_id: str) -> Sequence[LoginSession]:
        """End every family of a client and refuse their access tokens (the client was
        deleted: its refresh tokens are bound to it, RFC 6749 §10.4)."""
        ended = await self.families.store.revoke(now=self._clock.now(), client_id=client_id)
        for family in ended:
            await self._revocations.revoke_session(family.id)
        notify(self.listeners, events_for(ended))
        return ended

    async def browser_sessions(self, user_id: str) -> Sequence[BrowserSession]:
        """The user's signed-in browsers, newest first."""
        return await self._browsers.list_for_user(user_id, now=self._clock.now())

    # --- keeping sessions ------------------------------------------------------------------

    async def live_user(self, user_id: str, *, since: float | None = None) -> User | None:
        """The user, if they may still hold a session: the account exists and is enabled,
        and, given ``since`` (when the session's sign-in read the password), the password has
        not changed after it."""
        user = await self._users.get(user_id)
        if user is None or user.disabled:
            return None
        if since is not None and user.password_changed_at > since:
            return None
        return user

    async def keep_new_session(
        self, session: LoginSession | BrowserSession, signed_in: User
    ) -> User:
        """Called right after a sign-in opened ``session`` (a refresh family or a signed-in
        browser) for the user record ``signed_in`` it authenticated: if the password changed
        (or the user was disabled) while the sign-in ran, end the session and raise
        :class:`InvalidGrant`. The change swept the sessions that existed; this catches the
        one being created, so that no session outlives a password change that happened
        after its login started."""
        user = await self.live_user(signed_in.id, since=signed_in.password_changed_at)
        if user is None:
            if isinstance(session, BrowserSession):
                await self.end_browser_session(session.id)
            else:
                await self.end_session(session.id)
            raise InvalidGrant(
                detail=f"user {signed_in.id} changed, disabled or gone during the sign-in"
            )
        return user

    async def rotate(
        self, token: str, *, client_id: str, check: Callable[[LoginSession], None] | None = None
    ) -> Refreshed:
        """The one refresh (RFC 6749 §6): the token's family must be ``client_id``'s (a
        refresh token is bound to its client), ``check`` passes on the family before anything
        changes (a refused request leaves the token usable), the user must be live (else the
        family ends), and the token rotates (a reused token ends its family and its access
        tokens, RFC 9700 §4.14.2). Raises :class:`InvalidGrant`.

        Finding the family, ``check``, reading its user and rotating are one transaction of
        the store (:meth:`~ostiary.tokens.refresh.RefreshTokens.rotate_for_live_user`): every
        read comes before the rotation commits, so a read that fails (the database hiccups)
        leaves the token as it was, for the client to retry, where a failure after the commit
        would lose the only answer that carries the successor."""
        done = await self.families.rotate_for_live_user(token, client_id=client_id, check=check)
        family = done.session
        if done.reused:  # the store revoked the family: now its access tokens
            await self._revocations.revoke_session(family.id)
            notify(self.listeners, events_for([family]))
            raise RefreshTokenReused(session_id=family.id, user_id=family.user_id)
        if done.issued is None or done.user is None:
            await self.end_session(family.id)
            raise InvalidGrant(detail=f"the user of session {family.id} is not live")
        return Refreshed(done.issued, done.user)
