"""The first-party client's flows (``/auth``): log in, refresh, log out, list and end
sessions, change the password. Nothing here knows of HTTP.

First-party sessions are the only tokens the account API accepts (docs/security.md, "Who may
use which token where"): their access tokens name the first-party client, their session
(``sid``), and the audiences :meth:`ServerAudiences.first_party` gives them.

A login or refresh that carries a DPoP proof (RFC 9449) gets an access token bound to the
proof's key (``cnf.jkt``, §6.1; ``token_type: DPoP``, §5); a login's session is bound to it too,
as a public client's refresh tokens are (§5): each refresh of it needs a proof by that key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ostiary.access_claims import AccessClaims
from ostiary.audit import SYSTEM, AuditTrail, Outcome
from ostiary.authn import Accounts
from ostiary.authz.scopes import format_scope, parse_scope
from ostiary.authz.trust import ServerAudiences
from ostiary.dpop import DPoPChecker
from ostiary.errors import (
    CurrentPasswordIncorrect,
    InvalidCredentials,
    InvalidGrant,
    NotFound,
    RefreshTokenReused,
)
from ostiary.revocation.service import Revocations
from ostiary.settings import Settings
from ostiary.storage.records import BrowserSession, LoginSession, Revocation, User
from ostiary.tokens import AccessTokenIssuer, IssuedToken
from ostiary.tokens.dpop_binding import (
    ProofRequest,
    TokenType,
    proof_key,
    require_key,
    token_type,
)
from ostiary.tokens.lifecycle import SessionLifecycle

log = logging.getLogger("ostiary.server")


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: IssuedToken
    #: The plaintext refresh token. Never log it.
    refresh_token: str
    refresh_expires_in: int
    scope: str
    #: The thumbprint of the DPoP key the access token is bound to (RFC 9449 §6.1), if any.
    dpop_jkt: str | None = None

    @property
    def token_type(self) -> TokenType:
        """RFC 9449 §5: ``DPoP`` for a bound access token, else ``Bearer``."""
        return token_type(self.dpop_jkt)

    def __repr__(self) -> str:
        return f"TokenPair(jti={self.access.jti!r}, scope={self.scope!r})"


@dataclass(frozen=True, slots=True)
class UserSessions:
    """What ``GET /auth/sessions`` lists: the user's refresh families (one per login or
    client grant) and signed-in browsers (single sign-on)."""

    families: Sequence[LoginSession]
    browsers: Sequence[BrowserSession]


class FirstParty:
    """The first-party client's flows. Every access token it issues names its session
    (``sid``), so that ending the session refuses the token at once. ``dpop`` checks the DPoP
    proofs of logins and refreshes (without it, a request with a proof is refused)."""

    def __init__(
        self,
        settings: Settings,
        *,
        accounts: Accounts,
        issuer: AccessTokenIssuer,
        lifecycle: SessionLifecycle,
        revocations: Revocations,
        audiences: ServerAudiences,
        audit: AuditTrail,
        dpop: DPoPChecker | None = None,
    ) -> None:
        self._settings = settings
        self._dpop = dpop
        self._audit = audit
        self._accounts = accounts
        self._issuer = issuer
        self._lifecycle = lifecycle
        self._families = lifecycle.families
        self._revocations = revocations
        self._audiences = audiences

    # --- the token-ish endpoints -----------------------------------------------------------

    async def register(self, username: str, password: str) -> User:
        return await self._accounts.register(username, password)

    async def login(
        self,
        username: str,
        password: str,
        *,
        user_agent: str | None,
        address: str | None,
        dpop: ProofRequest | None = None,
    ) -> TokenPair:
        """A new session for the user. With a DPoP proof (checked before the password, which
        costs far more), the session and its access tokens are bound to the proof's key."""
        jkt = await proof_key(self._dpop, dpop)
        try:
            signed_in = await self._accounts.authenticate(username, password)
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
        scope = self._settings.scope_for(signed_in.roles)
        started = await self._families.start(
            user_id=signed_in.id,
            client_id=self._settings.client_id,
            scope=scope,
            user_agent=user_agent,
            address=address,
            dpop_jkt=jkt,
        )
        try:
            user = await self._lifecycle.keep_new_session(started.session, signed_in)
        except InvalidGrant as exc:  # the password changed while this login ran
            raise InvalidCredentials(detail=exc.detail) from None
        log.info("login of %s, session %s", user.id, started.session.id)
        await self._audit.record(
            "login",
            actor=user.id,
            subject=user.id,
            address=address,
            user_agent=user_agent,
            data=_with_key(
                {"session": started.session.id, "grant": "password", "tokens": "access,refresh"},
                jkt,
            ),
        )
        return self._pair(user, started.session, started.token, scope, jkt)

    async def refresh(self, token: str, *, dpop: ProofRequest | None = None) -> TokenPair:
        """Rotate a refresh token of the first-party client (a family of any other client is
        refused: RFC 6749 §6, a refresh token is bound to its client). On reuse the family
        and its access tokens end; the client sees a plain ``invalid_grant``. A session bound
        to a DPoP key needs a proof by it, checked before the rotation (RFC 9449 §5: refused,
        the token stays usable); with a proof the access token is bound to its key."""
        jkt = await proof_key(self._dpop, dpop)

        def check(family: LoginSession) -> None:
            require_key(family.dpop_jkt, jkt, what="session")

        try:
            refreshed = await self._lifecycle.rotate(
                token, client_id=self._settings.client_id, check=check
            )
        except RefreshTokenReused as exc:
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
        session, user = refreshed.session, refreshed.user
        # Never wider than what the login granted; narrower if a role was taken away since.
        scope = format_scope(
            parse_scope(session.scope) & parse_scope(self._settings.scope_for(user.roles))
        )
        await self._audit.record(
            "refresh",
            actor=user.id,
            subject=user.id,
            data=_with_key(
                {"session": session.id, "grant": "refresh_token", "tokens": "access,refresh"},
                jkt,
            ),
        )
        return self._pair(user, session, refreshed.issued.token, scope, jkt)

    def _pair(
        self, user: User, session: LoginSession, refresh_token: str, scope: str, jkt: str | None
    ) -> TokenPair:
        extra = (
            {"preferred_username": user.username} if self._settings.include_username_claim else None
        )
        access = self._issuer.issue(
            subject=user.id,
            client_id=self._settings.client_id,
            scope=scope,
            roles=user.roles,
            session_id=session.id,
            audience=self._audiences.first_party(parse_scope(scope)),
            extra=extra,
            dpop_jkt=jkt,
        )
        expires_in = self._families.expires_in(session)
        return TokenPair(access, refresh_token, expires_in, scope, dpop_jkt=jkt)

    # --- the account API (first-party session tokens only) ---------------------------------

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
        await self._lifecycle.end_session(claims.sid, user_id=claims.sub)
        await self._audit.record(
            "logout", actor=claims.sub, subject=claims.sub, data={"session": claims.sid}
        )

    async def logout_refresh(self, refresh_token: str) -> None:
        """End the session of a refresh token (browser mode's cookie), whatever its state:
        logging out twice, or with an expired token, is no error."""
        found = await self._families.find(refresh_token)
        if found is None or found[1].client_id != self._settings.client_id:
            return
        session = found[1]
        await self._lifecycle.end_session(session.id)
        await self._audit.record(
            "logout", actor=session.user_id, subject=session.user_id, data={"session": session.id}
        )

    async def logout_all(self, claims: AccessClaims) -> None:
        """End every session of the user, browsers signed in for single sign-on included,
        and refuse every access token issued until now."""
        ended = await self._lifecycle.end_user_sessions(claims.sub)
        await self._audit.record(
            "logout_all", actor=claims.sub, subject=claims.sub, data={"sessions": str(len(ended))}
        )

    async def sessions(self, claims: AccessClaims) -> UserSessions:
        """The caller's live sessions: refresh families and signed-in browsers."""
        families = await self._families.list_sessions(claims.sub)
        return UserSessions(families, await self._lifecycle.browser_sessions(claims.sub))

    async def end_session(self, claims: AccessClaims, session_id: str) -> None:
        """End one of the caller's own sessions, a refresh family or a signed-in browser;
        404 for any other id, so that ids of other users' sessions cannot be probed."""
        ended = await self._lifecycle.end_session(
            session_id, user_id=claims.sub
        ) is not None or await self._lifecycle.end_browser_session(session_id, user_id=claims.sub)
        if not ended:
            raise NotFound(
                "No such session.", detail=f"session {session_id!r} not live for {claims.sub}"
            )
        await self._audit.record(
            "session.end", actor=claims.sub, subject=claims.sub, data={"session": session_id}
        )

    async def change_password(self, claims: AccessClaims, current: str, new: str) -> None:
        """Change the password and end every other session, browsers included; the asking
        one stays."""
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
        await self._lifecycle.end_user_sessions(claims.sub, keep=claims.sid)
        await self._audit.record("user.password", actor=claims.sub, subject=claims.sub)
        log.info("password of %s changed; other sessions ended", claims.sub)

    async def revocation_feed(self, since: int, limit: int) -> tuple[Sequence[Revocation], int]:
        return await self._revocations.feed(since, limit)


def _with_key(data: dict[str, str], jkt: str | None) -> dict[str, str]:
    """An audit event's facts, with the DPoP key the tokens are bound to (its thumbprint,
    public; never the proof)."""
    return data if jkt is None else {**data, "dpop_jkt": jkt}
