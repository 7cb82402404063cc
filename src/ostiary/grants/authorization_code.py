"""The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636, RFC 9700 §2.1.1) and the
OpenID Connect code flow (Core §3.1): :class:`AuthorizationCodeGrant` redeems at the token
endpoint the codes :class:`~ostiary.grants.authorization_endpoint.Authorizations` issued.
"""

from __future__ import annotations

from typing import Final

from ostiary.authn.client_settings import AUTHORIZATION_CODE, REFRESH_TOKEN
from ostiary.authz.scopes import parse_scope
from ostiary.authz.trust import third_party_roles
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.encoding import sha256_hex
from ostiary.errors import (
    InvalidGrant,
)
from ostiary.grants import pkce
from ostiary.grants.base import (
    IssuedTokens,
    OAuthParams,
    within_grant,
)
from ostiary.storage.protocols import AuthorizationCodeStore, BrowserSessionStore
from ostiary.storage.records import AuthorizationCode, Client, User
from ostiary.tokens.access import AccessTokenIssuer
from ostiary.tokens.dpop_binding import require_key
from ostiary.tokens.id_token import IdTokenIssuer
from ostiary.tokens.lifecycle import SessionLifecycle


def hash_code(code: str) -> str:
    return sha256_hex(code)


class AuthorizationCodeGrant:
    """Redeem a code (RFC 6749 §4.1.3): once, by the client it was issued to, with the
    redirect URI it was issued for, the PKCE verifier of its challenge and, if the
    authorization request named a ``dpop_jkt``, a DPoP proof signed by that key (RFC 9449
    §10). A code presented again revokes what it was exchanged for (RFC 6749 §4.1.2, RFC 9700
    §4.2.1). With a proof, the access token is bound to its key, and so is the refresh family
    of a public client (RFC 9449 §5)."""

    grant_type: Final = AUTHORIZATION_CODE

    def __init__(
        self,
        codes: AuthorizationCodeStore,
        lifecycle: SessionLifecycle,
        issuer: AccessTokenIssuer,
        id_tokens: IdTokenIssuer,
        browser_sessions: BrowserSessionStore,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._browser_sessions = browser_sessions
        self._codes = codes
        self._lifecycle = lifecycle
        self._refresh = lifecycle.families
        self._issuer = issuer
        self._id_tokens = id_tokens
        self._clock = clock

    async def exchange(
        self, request: OAuthParams, client: Client, *, dpop_jkt: str | None = None
    ) -> IssuedTokens:
        code_value = request.require("code")
        now = self._clock.now()
        found = await self._codes.consume(hash_code(code_value), now=now)
        if found is None:
            raise InvalidGrant(detail="unknown authorization code")
        if found.used_at is not None:
            await self._revoke_issued(found)
            raise InvalidGrant(detail=f"authorization code reused; session {found.session_id}")
        if found.client_id != client.id:
            raise InvalidGrant(detail=f"code of {found.client_id} presented by {client.id}")
        if now >= found.expires_at:
            raise InvalidGrant(detail="authorization code expired")
        # RFC 6749 §4.1.3: required if the authorization request named it, and identical.
        # The code does not record whether it did (a plain OAuth request may leave the choice
        # to the server, §3.1.2.3), so it is required always: the client knows where it was
        # sent back to. §5.2: invalid_grant, it "does not match the redirection URI used".
        if request.get("redirect_uri") != found.redirect_uri:
            raise InvalidGrant(detail="redirect_uri missing or not the authorization request's")
        verifier = request.get("code_verifier")
        if verifier is None or not pkce.verifies(verifier, found.code_challenge):
            raise InvalidGrant(detail="PKCE code_verifier missing or wrong")
        require_key(found.dpop_jkt, dpop_jkt, what="authorization code")
        # The sign-in the code comes from must still hold: a password change after it ends
        # it (and every session it would open).
        user = await self._lifecycle.live_user(found.user_id, since=found.auth_time)
        if user is None:
            raise InvalidGrant(detail="the code's user is gone, disabled or changed password")
        if not await self._browser_session_live(found.browser_session_id, now):
            raise InvalidGrant(detail="the code's browser session ended (logout) before it")
        audiences = within_grant(request.resources, found.audiences, client_id=client.id)
        started = await self._refresh.start(
            user_id=user.id,
            client_id=client.id,
            scope=found.scope,
            browser_session_id=found.browser_session_id,
            audiences=found.audiences,
            # RFC 9449 §5: a public client's refresh tokens are bound to the key; a
            # confidential client's are not (it authenticates each refresh).
            dpop_jkt=dpop_jkt if client.public else None,
        )
        await self._codes.attach_session(found.code_hash, started.session.id)
        await self._lifecycle.keep_new_session(started.session, user)
        access = self._issuer.issue(
            subject=user.id,
            client_id=client.id,
            scope=found.scope,
            roles=third_party_roles(parse_scope(found.scope), user.roles),
            session_id=started.session.id,
            audience=audiences,
            dpop_jkt=dpop_jkt,
        )
        id_token = None
        if "openid" in found.scope.split(" "):
            id_token = self._id_tokens.issue(
                subject=user.id,
                client_id=client.id,
                auth_time=found.auth_time,
                nonce=found.nonce,
                access_token=access.token,
                session_id=found.browser_session_id,
                extra=profile_claims(user, found.scope),
            )
        refreshable = REFRESH_TOKEN in client.grant_types
        return IssuedTokens(
            access=access,
            scope=found.scope,
            refresh_token=started.token if refreshable else None,
            refresh_expires_in=self._refresh.expires_in(started.session) if refreshable else None,
            id_token=id_token,
            dpop_jkt=dpop_jkt,
        )

    async def _browser_session_live(self, session_id: str | None, now: float) -> bool:
        """A code must not outlive the sign-in it came from: a logout between the redirect
        and the redemption ends it too (OpenID Connect RP-Initiated Logout §2)."""
        if session_id is None:
            return True
        session = await self._browser_sessions.get(session_id)
        return session is not None and session.revoked_at is None and now < session.expires_at

    async def _revoke_issued(self, code: AuthorizationCode) -> None:
        if code.session_id is not None:
            await self._lifecycle.end_session(code.session_id)


def profile_claims(user: User, scope: str) -> dict[str, str]:
    """The user's claims a scope lets a client see (Core §5.4): ``profile`` gives the
    username as ``preferred_username``."""
    return {"preferred_username": user.username} if "profile" in scope.split(" ") else {}
