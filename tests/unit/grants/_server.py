"""The OAuth domain wired together over memory storage and a frozen clock, as the server wires
it, for the grant, introspection and ID token tests. Nothing here sleeps or does I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from pydantic import SecretStr

from ostiary.authn.accounts import Accounts
from ostiary.authn.client_auth import ClientCredentials
from ostiary.authn.client_registry import ClientRegistry, Registered
from ostiary.authn.client_settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientSettings,
)
from ostiary.authn.passwords import PasswordHasher
from ostiary.authz.trust import ServerAudiences
from ostiary.clock import FrozenClock
from ostiary.encoding import b64url
from ostiary.grants.authorization_endpoint import AuthorizationRequest, Authorizations
from ostiary.grants.base import IssuedTokens, OAuthParams
from ostiary.grants.endpoint import TokenEndpoint
from ostiary.grants.pkce import s256
from ostiary.jose import JWK
from ostiary.keys.encryption import MasterKey
from ostiary.resource import TokenVerifier
from ostiary.revocation.client_requests import ClientTokenRevocation
from ostiary.revocation.service import Revocations
from ostiary.settings import Settings
from ostiary.storage import MEMORY_URL
from ostiary.storage.memory import MemoryStorage
from ostiary.storage.records import BrowserSession, ClientAuthMethod, KeyStatus, StoredKey, User
from ostiary.tokens.access import AccessTokenIssuer
from ostiary.tokens.introspection import TokenInspector
from ostiary.tokens.refresh import RefreshTokens
from ostiary.wiring import (
    OAuthServices,
    accounts,
    key_service,
    oauth_services,
    revocations,
    session_lifecycle,
)

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
_MASTER_TEXT: Final = MasterKey.new_text()
MASTER_KEY: Final = MasterKey.from_text(_MASTER_TEXT)


def sign_raw(header: dict[str, Any], claims: dict[str, Any], key: JWK) -> str:
    """A compact JWS with exactly ``header`` (no ``kid`` or ``typ`` added)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"


#: The settings the domain is wired from: one signing algorithm for access and ID tokens (so
#: that :data:`SIGNING_KEY` signs both), and no refresh retry grace (a reused refresh token is
#: reuse at once).
SETTINGS: Final = Settings(
    issuer=ISSUER,
    audience=AUDIENCE,
    database_url=MEMORY_URL,
    master_key=SecretStr(_MASTER_TEXT),
    access_token_ttl=ACCESS_TTL,
    leeway=30,
    signing_alg="ES256",
    id_token_signing_alg="ES256",
    refresh_grace_seconds=0,
)


@dataclass
class OAuthServer:
    """The OAuth services as :func:`ostiary.wiring.oauth_services` wires them for the server,
    over memory storage whose one signing key is :data:`SIGNING_KEY`."""

    clock: FrozenClock
    storage: MemoryStorage
    accounts: Accounts
    refresh: RefreshTokens
    revocations: Revocations
    #: The access-token issuer the grants were wired with.
    access: AccessTokenIssuer
    oauth: OAuthServices

    @classmethod
    async def build(cls, clock: FrozenClock, hasher: PasswordHasher) -> OAuthServer:
        storage = MemoryStorage()
        await storage.keys.add(
            StoredKey(
                kid=SIGNING_KEY.kid,
                alg=SIGNING_KEY.alg,
                status=KeyStatus.ACTIVE,
                sealed=MASTER_KEY.seal_key(SIGNING_KEY),
                created_at=clock.now(),
                activated_at=clock.now(),
            )
        )
        keys = key_service(SETTINGS, storage, MASTER_KEY, clock=clock)
        await keys.load()
        revoked = revocations(SETTINGS, storage, clock=clock)
        lifecycle = session_lifecycle(SETTINGS, storage, revoked, clock=clock)
        access = AccessTokenIssuer(
            keys.signing_key,
            issuer=ISSUER,
            audience=AUDIENCE,
            ttl=SETTINGS.access_token_ttl,
            clock=clock,
        )
        oauth = oauth_services(
            SETTINGS, storage, keys, keys, access, revoked, lifecycle, clock=clock
        )
        users = accounts(SETTINGS, storage, clock=clock, hasher=hasher)
        return cls(clock, storage, users, lifecycle.families, revoked, access, oauth)

    @property
    def clients(self) -> ClientRegistry:
        return self.oauth.clients

    @property
    def authorizations(self) -> Authorizations:
        return self.oauth.authorizations

    @property
    def endpoint(self) -> TokenEndpoint:
        return self.oauth.token_endpoint

    @property
    def inspector(self) -> TokenInspector:
        return self.oauth.inspector

    @property
    def revocation(self) -> ClientTokenRevocation:
        return self.oauth.revocation

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
    ) -> IssuedTokens:
        params = {"grant_type": AUTHORIZATION_CODE, "code": code}
        if verifier is not None:
            params["code_verifier"] = verifier
        if redirect_uri is not None:
            params["redirect_uri"] = redirect_uri
        return await self.endpoint.exchange(basic(client), OAuthParams(params))

    async def refresh_with(
        self,
        client: Registered,
        token: str,
        *,
        scope: str | None = None,
        resources: tuple[str, ...] = (),
    ) -> IssuedTokens:
        params = {"grant_type": REFRESH_TOKEN, "refresh_token": token}
        if scope is not None:
            params["scope"] = scope
        return await self.endpoint.exchange(basic(client), OAuthParams(params, resources))

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
