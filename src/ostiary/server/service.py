"""What the HTTP endpoints do, one method each, over the domain services: log in, refresh,
log out, list and end sessions, change the password. Nothing here knows of HTTP."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ostiary.audit import SYSTEM, AuditTrail, Outcome
from ostiary.authn import Accounts
from ostiary.authz.scopes import format_scope, parse_scope
from ostiary.errors import InvalidCredentials, InvalidGrant, NotFound, RefreshTokenReused
from ostiary.resource.claims import AccessClaims
from ostiary.server.errors import CurrentPasswordIncorrect
from ostiary.settings import Settings
from ostiary.storage.records import Revocation, Session, User
from ostiary.tokens import AccessTokenIssuer, IssuedToken, RefreshTokens, Revocations

log = logging.getLogger("ostiary.server")


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: IssuedToken
    #: The plaintext refresh token. Never log it.
    refresh_token: str
    refresh_expires_in: int
    scope: str

    def __repr__(self) -> str:
        return f"TokenPair(jti={self.access.jti!r}, scope={self.scope!r})"


class AuthService:
    """The first-party client's flows. Every access token it issues names its session
    (``sid``), so that ending the session refuses the token at once."""

    def __init__(
        self,
        settings: Settings,
        *,
        accounts: Accounts,
        issuer: AccessTokenIssuer,
        refresh: RefreshTokens,
        revocations: Revocations,
        audit: AuditTrail,
    ) -> None:
        self._settings = settings
        self._audit = audit
        self._accounts = accounts
        self._issuer = issuer
        self._refresh = refresh
        self._revocations = revocations

    # --- the token-ish endpoints -----------------------------------------------------------

    async def register(self, username: str, password: str) -> User:
        return await self._accounts.register(username, password)

    async def login(
        self, username: str, password: str, *, user_agent: str | None, address: str | None
    ) -> TokenPair:
        try:
            user = await self._accounts.authenticate(username, password)
        except InvalidCredentials as exc:
            await self._audit.record(
                "login",
                actor=SYSTEM,
                outcome=Outcome.FAILURE,
                address=address,
                user_agent=user_agent,
                data={"username": username[:64], "reason": exc.detail or "invalid credentials"},
            )
            raise
        scope = self._settings.scope_for(user.roles)
        started = await self._refresh.start(
            user_id=user.id,
            client_id=self._settings.client_id,
            scope=scope,
            user_agent=user_agent,
            address=address,
        )
        log.info("login of %s, session %s", user.id, started.session.id)
        await self._audit.record(
            "login",
            actor=user.id,
            subject=user.id,
            address=address,
            user_agent=user_agent,
            data={"session": started.session.id, "grant": "password", "tokens": "access,refresh"},
        )
        return self._pair(user, started.session, started.token, scope)

    async def refresh(self, token: str) -> TokenPair:
        """Rotate the refresh token. On reuse the family is revoked (by the domain) and so
        are its live access tokens (here); the client sees a plain ``invalid_grant``."""
        try:
            rotated = await self._refresh.rotate(token)
        except RefreshTokenReused as exc:
            await self._revocations.revoke_session(exc.session_id)
            log.warning(
                "refresh token reuse: session %s of %s revoked", exc.session_id, exc.user_id
            )
            await self._audit.record(
                "refresh.reuse",
                actor=SYSTEM,
                subject=exc.user_id,
                outcome=Outcome.FAILURE,
                data={"session": exc.session_id, "reason": "session revoked"},
            )
            raise
        session = rotated.session
        user = await self._live_user(session)
        # Never wider than what the login granted; narrower if a role was taken away since.
        scope = format_scope(
            parse_scope(session.scope) & parse_scope(self._settings.scope_for(user.roles))
        )
        await self._audit.record(
            "refresh",
            actor=user.id,
            subject=user.id,
            data={"session": session.id, "grant": "refresh_token", "tokens": "access,refresh"},
        )
        return self._pair(user, session, rotated.token, scope)

    async def _live_user(self, session: Session) -> User:
        try:
            user = await self._accounts.get(session.user_id)
        except NotFound:
            user = None
        if user is None or user.disabled:
            await self._end(session.id)
            raise InvalidGrant(detail=f"the user of session {session.id} is gone or disabled")
        return user

    def _pair(self, user: User, session: Session, refresh_token: str, scope: str) -> TokenPair:
        extra = (
            {"preferred_username": user.username} if self._settings.include_username_claim else None
        )
        access = self._issuer.issue(
            subject=user.id,
            client_id=self._settings.client_id,
            scope=scope,
            roles=user.roles,
            session_id=session.id,
            extra=extra,
        )
        return TokenPair(access, refresh_token, self._refresh.expires_in(session), scope)

    # --- the Bearer-protected endpoints ----------------------------------------------------

    async def me(self, claims: AccessClaims) -> User:
        return await self._accounts.get(claims.sub)

    async def logout(self, claims: AccessClaims) -> None:
        """End the token's session: its refresh family and every access token of it."""
        if claims.sid is None:
            await self._revocations.revoke_token(claims.jti, claims.exp)
            await self._audit.record(
                "logout", actor=claims.sub, subject=claims.sub, data={"jti": claims.jti}
            )
            return
        await self._refresh.revoke_session(claims.sid, user_id=claims.sub)
        await self._revocations.revoke_session(claims.sid)
        await self._audit.record(
            "logout", actor=claims.sub, subject=claims.sub, data={"session": claims.sid}
        )

    async def logout_refresh(self, refresh_token: str) -> None:
        """End the session of a refresh token (browser mode's cookie), whatever its state:
        logging out twice, or with an expired token, is no error."""
        found = await self._refresh.find(refresh_token)
        if found is None:
            return
        session = found[1]
        await self._end(session.id)
        await self._audit.record(
            "logout", actor=session.user_id, subject=session.user_id, data={"session": session.id}
        )

    async def logout_all(self, claims: AccessClaims) -> None:
        """End every session of the user and refuse every access token issued until now."""
        ended = await self._refresh.revoke_user(claims.sub)
        await self._revocations.revoke_subject(claims.sub)
        await self._audit.record(
            "logout_all", actor=claims.sub, subject=claims.sub, data={"sessions": str(len(ended))}
        )

    async def sessions(self, claims: AccessClaims) -> Sequence[Session]:
        return await self._refresh.list_sessions(claims.sub)

    async def end_session(self, claims: AccessClaims, session_id: str) -> None:
        """End one of the caller's own sessions; 404 for any other id, so that ids of other
        users' sessions cannot be probed."""
        if await self._refresh.revoke_session(session_id, user_id=claims.sub) is None:
            raise NotFound(
                "No such session.", detail=f"session {session_id!r} not live for {claims.sub}"
            )
        await self._revocations.revoke_session(session_id)
        await self._audit.record(
            "session.end", actor=claims.sub, subject=claims.sub, data={"session": session_id}
        )

    async def change_password(self, claims: AccessClaims, current: str, new: str) -> None:
        """Change the password and end every other session; the asking one stays."""
        try:
            await self._accounts.change_password(claims.sub, current, new)
        except InvalidCredentials as exc:
            await self._audit.record(
                "user.password",
                actor=claims.sub,
                subject=claims.sub,
                outcome=Outcome.FAILURE,
                data={"reason": "current password incorrect"},
            )
            raise CurrentPasswordIncorrect(detail=exc.detail) from None
        for session in await self._refresh.revoke_user(claims.sub, keep=claims.sid):
            await self._revocations.revoke_session(session.id)
        await self._audit.record("user.password", actor=claims.sub, subject=claims.sub)
        log.info("password of %s changed; other sessions ended", claims.sub)

    async def revocation_feed(self, since: int, limit: int) -> tuple[Sequence[Revocation], int]:
        return await self._revocations.feed(since, limit)

    async def _end(self, session_id: str) -> None:
        await self._refresh.revoke_session(session_id)
        await self._revocations.revoke_session(session_id)
