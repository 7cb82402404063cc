"""The OAuth domain wired together over memory storage and a frozen clock, as the server wires
it, for the grant, introspection and ID token tests. Nothing here sleeps or does I/O."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Final

from ostiary.authn.accounts import Accounts
from ostiary.authn.clients import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientAuthenticator,
    ClientCredentials,
    ClientRegistry,
    ClientSettings,
    Registered,
)
from ostiary.authn.passwords import PasswordHasher
from ostiary.authz.trust import ServerAudiences
from ostiary.clock import FrozenClock
from ostiary.grants.authorization_code import (
    AuthorizationCodeGrant,
    AuthorizationRequest,
    Authorizations,
)
from ostiary.grants.base import TokenRequest, TokenResponse
from ostiary.grants.client_credentials import ClientCredentialsGrant
from ostiary.grants.endpoint import TokenEndpoint
from ostiary.grants.pkce import s256
from ostiary.grants.refresh_token import RefreshTokenGrant
from ostiary.jose import JWK, JWKSet
from ostiary.resource import TokenVerifier
from ostiary.storage.memory import MemoryStorage
from ostiary.storage.records import BrowserSession, ClientAuthMethod, User
from ostiary.tokens.access import AccessTokenIssuer
from ostiary.tokens.id_token import IdTokenIssuer
from ostiary.tokens.introspection import TokenInspector
from ostiary.tokens.lifecycle import SessionLifecycle
from ostiary.tokens.refresh import RefreshTokens
from ostiary.tokens.revocation import Revocations

T0: Final = 1_700_000_000.0
ISSUER: Final = "https://auth.example.test"
#: The audience of first-party tokens' APIs (``OSTIARY_AUDIENCE``).
AUDIENCE: Final = "https://api.example.test"
SERVER_AUDIENCES: Final = ServerAudiences.of(ISSUER, [AUDIENCE])
ORDERS: Final = "https://orders.example.test"
BILLING: Final = "https://billing.example.test"
REDIRECT: Final = "https://app.example.test/callback"
#: RFC 7636 Appendix B.
VERIFIER: Final = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE: Final = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
ACCESS_TTL: Final = 900

#: Generated once: keys are immutable and EC generation is the slowest step of a setup.
SIGNING_KEY: Final = JWK.generate("ES256")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_raw(header: dict[str, Any], claims: dict[str, Any], key: JWK) -> str:
    """A compact JWS with exactly ``header`` (no ``kid`` or ``typ`` added)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"


@dataclass
class OAuthServer:
    clock: FrozenClock
    storage: MemoryStorage
    clients: ClientRegistry
    authenticator: ClientAuthenticator
    accounts: Accounts
    refresh: RefreshTokens
    revocations: Revocations
    access: AccessTokenIssuer
    id_tokens: IdTokenIssuer
    authorizations: Authorizations
    code_grant: AuthorizationCodeGrant
    refresh_grant: RefreshTokenGrant
    client_credentials: ClientCredentialsGrant
    endpoint: TokenEndpoint
    inspector: TokenInspector

    @classmethod
    def build(cls, clock: FrozenClock, hasher: PasswordHasher) -> OAuthServer:
        storage = MemoryStorage()
        refresh = RefreshTokens(storage.sessions, clock=clock)
        revocations = Revocations(storage.revocations, clock=clock, max_access_ttl=ACCESS_TTL)
        lifecycle = SessionLifecycle(
            refresh, revocations, storage.browser_sessions, storage.users, clock=clock
        )
        clients = ClientRegistry(
            storage.clients,
            audiences=SERVER_AUDIENCES,
            end_sessions=lifecycle.end_client_sessions,
            clock=clock,
        )
        authenticator = ClientAuthenticator(clients, storage.once, issuer=ISSUER, clock=clock)
        accounts = Accounts(storage.users, hasher, clock=clock)
        access = AccessTokenIssuer(
            lambda: SIGNING_KEY, issuer=ISSUER, audience=AUDIENCE, ttl=ACCESS_TTL, clock=clock
        )
        id_tokens = IdTokenIssuer(lambda: SIGNING_KEY, issuer=ISSUER, clock=clock)
        authorizations = Authorizations(
            clients,
            storage.codes,
            storage.consents,
            userinfo_audience=SERVER_AUDIENCES.userinfo,
            clock=clock,
        )
        code_grant = AuthorizationCodeGrant(
            storage.codes,
            lifecycle,
            access,
            id_tokens,
            storage.browser_sessions,
            clock=clock,
        )
        refresh_grant = RefreshTokenGrant(lifecycle, access)
        client_credentials = ClientCredentialsGrant(access)
        endpoint = TokenEndpoint(authenticator, [client_credentials, code_grant, refresh_grant])
        inspector = TokenInspector(
            JWKSet([SIGNING_KEY.public()]),
            lifecycle,
            revocations,
            issuer=ISSUER,
            leeway=30,
            clock=clock,
        )
        return cls(
            clock,
            storage,
            clients,
            authenticator,
            accounts,
            refresh,
            revocations,
            access,
            id_tokens,
            authorizations,
            code_grant,
            refresh_grant,
            client_credentials,
            endpoint,
            inspector,
        )

    # --- fixtures of the world -------------------------------------------------------------

    async def add_user(
        self, username: str = "alice", *, roles: tuple[str, ...] = ("user",)
    ) -> User:
        """A user stored directly: no password hashing, which these tests never need."""
        # Registered an hour ago: every sign-in of the tests comes after its password was set.
        since = self.clock.now() - 3600
        user = User(
            id=f"usr_{username}",
            username=username,
            password_hash="-",
            roles=frozenset(roles),
            disabled=False,
            created_at=since,
            password_changed_at=since,
        )
        await self.storage.users.create(user)
        return user

    async def add_web_app(
        self,
        client_id: str = "web",
        *,
        scopes: frozenset[str] = frozenset({"openid", "profile", "orders:read", "orders:write"}),
        audiences: frozenset[str] = frozenset(),
        first_party: bool = False,
        refresh: bool = True,
        public: bool = False,
    ) -> Registered:
        grants = {AUTHORIZATION_CODE, REFRESH_TOKEN} if refresh else {AUTHORIZATION_CODE}
        method = ClientAuthMethod.NONE if public else ClientAuthMethod.CLIENT_SECRET_BASIC
        return await self.clients.create(
            ClientSettings(
                name=f"App {client_id}",
                auth_method=method,
                grant_types=frozenset(grants),
                redirect_uris=(REDIRECT,),
                scopes=scopes,
                audiences=audiences,
                first_party=first_party,
            ),
            client_id=client_id,
        )

    async def add_service(
        self,
        client_id: str = "svc",
        *,
        scopes: frozenset[str] = frozenset({"orders:read", "orders:write"}),
        audiences: frozenset[str] = frozenset({ORDERS, BILLING}),
    ) -> Registered:
        return await self.clients.create(
            ClientSettings(
                name=f"Service {client_id}",
                grant_types=frozenset({CLIENT_CREDENTIALS}),
                scopes=scopes,
                audiences=audiences,
            ),
            client_id=client_id,
        )

    # --- flows -----------------------------------------------------------------------------

    def authorization_request(
        self, client: Registered, *, scope: str = "openid profile", nonce: str | None = "n-0S6"
    ) -> AuthorizationRequest:
        params = {
            "client_id": client.client.id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": scope,
            "state": "af0ifjsldkj",
            "code_challenge": s256(VERIFIER),
            "code_challenge_method": "S256",
        }
        if nonce is not None:
            params["nonce"] = nonce
        return self.authorizations.check(params, (), client.client, REDIRECT)

    async def code_for(
        self,
        client: Registered,
        user: User,
        *,
        scope: str = "openid profile",
        browser_session_id: str | None = "bs_1",
        auth_time: float | None = None,
    ) -> str:
        request = self.authorization_request(client, scope=scope)
        if browser_session_id is not None:  # the sign-in the code comes from
            await self.sign_in(user, browser_session_id)
        return await self.authorizations.issue_code(
            request,
            user,
            auth_time=self.clock.now() if auth_time is None else auth_time,
            browser_session_id=browser_session_id,
        )

    async def sign_in(self, user: User, browser_session_id: str) -> BrowserSession:
        """The browser session ``browser_session_id`` of ``user``, created if need be."""
        found = await self.storage.browser_sessions.get(browser_session_id)
        if found is not None:
            return found
        now = self.clock.now()
        session = BrowserSession(
            id=browser_session_id,
            user_id=user.id,
            auth_time=now,
            created_at=now,
            expires_at=now + 3600,
        )
        await self.storage.browser_sessions.create(session)
        return session

    async def redeem(
        self,
        client: Registered,
        code: str,
        *,
        verifier: str | None = VERIFIER,
        redirect_uri: str | None = REDIRECT,
    ) -> TokenResponse:
        params = {"grant_type": AUTHORIZATION_CODE, "code": code}
        if verifier is not None:
            params["code_verifier"] = verifier
        if redirect_uri is not None:
            params["redirect_uri"] = redirect_uri
        return await self.endpoint.exchange(basic(client), TokenRequest(params))

    async def refresh_with(
        self,
        client: Registered,
        token: str,
        *,
        scope: str | None = None,
        resources: tuple[str, ...] = (),
    ) -> TokenResponse:
        params = {"grant_type": REFRESH_TOKEN, "refresh_token": token}
        if scope is not None:
            params["scope"] = scope
        return await self.endpoint.exchange(basic(client), TokenRequest(params, resources))

    def verifier(self, audience: str = AUDIENCE) -> TokenVerifier:
        """A resource server's verifier that shares the issuer's revocation list."""
        return TokenVerifier(
            issuer=ISSUER,
            audience=audience,
            keys=[SIGNING_KEY.public()],
            clock=self.clock,
            revocations=self.revocations.local,
        )


def basic(client: Registered) -> ClientCredentials:
    """``client_secret_basic`` for a confidential client, ``client_id`` alone for a public one."""
    if client.secret is None:
        return ClientCredentials(client_id=client.client.id)
    return ClientCredentials(basic=(client.client.id, client.secret))
