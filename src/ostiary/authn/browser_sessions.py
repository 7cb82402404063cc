"""Signed-in browsers: the single sign-on session behind the authorization endpoint.

The cookie holds ``<id>.<mac>``: the session's id (also the ID token's ``sid``, which clients
see) and an HMAC-SHA256 of it under a server secret, so knowing a ``sid`` never lets anyone
forge the cookie. The record lives in storage, so ending the session (logout, by
:meth:`~ostiary.tokens.lifecycle.SessionLifecycle.end_browser_session`) takes effect
everywhere at once; its refresh families and their access tokens end with it
(OpenID Connect RP-Initiated Logout §2).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.encoding import b64url
from ostiary.storage.protocols import BrowserSessionStore
from ostiary.storage.records import BrowserSession, User

DEFAULT_SSO_TTL: Final = 12 * 3600.0
MIN_SECRET_BYTES: Final = 32


def _mac(secret: bytes, label: bytes, value: str) -> str:
    digest = hmac.new(secret, label + b"\x00" + value.encode(), hashlib.sha256).digest()
    return b64url(digest)


class BrowserSessions:
    def __init__(
        self,
        store: BrowserSessionStore,
        *,
        secret: bytes,
        clock: Clock = SYSTEM_CLOCK,
        ttl: float = DEFAULT_SSO_TTL,
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the cookie secret must have at least {MIN_SECRET_BYTES} bytes")
        self._store = store
        self._secret = secret
        self._clock = clock
        self.ttl = ttl

    async def start(self, user: User) -> tuple[BrowserSession, str]:
        """A new signed-in browser for ``user``; returns it and the cookie value."""
        now = self._clock.now()
        session = BrowserSession(
            id="bs_" + secrets.token_urlsafe(24),
            user_id=user.id,
            auth_time=now,
            created_at=now,
            expires_at=now + self.ttl,
        )
        await self._store.create(session)
        return session, f"{session.id}.{_mac(self._secret, b'sso', session.id)}"

    async def resume(self, cookie: str | None) -> BrowserSession | None:
        """The live session the cookie names, or None (absent, forged, ended or expired)."""
        # compare_digest raises TypeError on non-ASCII text; no cookie of ours has any.
        if not cookie or len(cookie) > 200 or not cookie.isascii():
            return None
        session_id, _, mac = cookie.rpartition(".")
        if not session_id or not hmac.compare_digest(mac, _mac(self._secret, b"sso", session_id)):
            return None
        session = await self._store.get(session_id)
        if session is None or session.revoked_at is not None:
            return None
        return session if self._clock.now() < session.expires_at else None

    def csrf_token(self, binding: str) -> str:
        """The form token for a CSRF cookie value (double submit, bound by HMAC so that a
        cookie planted from a sibling domain cannot be paired with a token of its own)."""
        return _mac(self._secret, b"csrf", binding)

    def csrf_matches(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token or len(binding) > 200:
            return False
        if not (binding.isascii() and token.isascii()):  # see resume
            return False
        return hmac.compare_digest(token, self.csrf_token(binding))
