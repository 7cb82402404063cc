"""The authorization endpoint's logic (RFC 6749 §4.1.1-§4.1.2, RFC 7636 §4.3, OpenID Connect
Core §3.1.2): :class:`Authorizations` checks a request in two steps, because errors found
before the client and its redirect URI are known must never be redirected (RFC 6749 §4.1.2.1),
and issues codes, which :class:`~ostiary.grants.authorization_code.AuthorizationCodeGrant`
redeems at the token endpoint.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ostiary.authn.client_registry import ClientRegistry
from ostiary.authn.client_settings import AUTHORIZATION_CODE
from ostiary.authz.scopes import parse_scope
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import (
    InvalidRequest,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from ostiary.grants import pkce
from ostiary.grants.authorization_code import hash_code
from ostiary.grants.base import (
    requested_audiences,
    requested_scope,
)
from ostiary.storage.protocols import AuthorizationCodeStore, ConsentStore
from ostiary.storage.records import AuthorizationCode, Client, Consent, User
from ostiary.tokens.dpop_binding import checked_thumbprint

#: How long a code lives (RFC 6749 §4.1.2: "a maximum lifetime of 10 minutes").
DEFAULT_CODE_TTL: Final = 60.0
PROMPTS: Final = frozenset({"none", "login", "consent", "select_account"})
_MAX_STATE: Final = 2048
_MAX_NONCE: Final = 512


class NoRedirectError(Exception):
    """An authorization request whose client or redirect URI cannot be trusted: shown to the
    user, never redirected (RFC 6749 §4.1.2.1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, Core §3.1.2.1)."""

    client: Client
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    prompt: frozenset[str]
    max_age: int | None
    audiences: tuple[str, ...]
    #: RFC 9449 §10: the thumbprint of the DPoP key the code is bound to.
    dpop_jkt: str | None = None

    @property
    def openid(self) -> bool:
        return "openid" in self.scope.split(" ")


class Authorizations:
    def __init__(
        self,
        clients: ClientRegistry,
        codes: AuthorizationCodeStore,
        consents: ConsentStore,
        *,
        userinfo_audience: str,
        clock: Clock = SYSTEM_CLOCK,
        code_ttl: float = DEFAULT_CODE_TTL,
    ) -> None:
        self._clients = clients
        self._codes = codes
        self._consents = consents
        self._userinfo_audience = userinfo_audience
        self._clock = clock
        self._code_ttl = code_ttl

    async def client_and_redirect(self, params: Mapping[str, str]) -> tuple[Client, str]:
        """Step one: the client and the redirect URI, which must match a registered one
        exactly (RFC 9700 §4.1.3); if the request names none, the client's only one (RFC 6749
        §3.1.2.3; OpenID Connect requests must name it). :class:`NoRedirectError` otherwise."""
        client_id = params.get("client_id")
        if not client_id:
            raise NoRedirectError("The request does not name its client (client_id).")
        client = await self._clients.get(client_id)
        if client is None:
            raise NoRedirectError("The application that sent you here is not registered.")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None:
            if len(client.redirect_uris) != 1 or "openid" in params.get("scope", "").split():
                raise NoRedirectError("The request does not say where to return (redirect_uri).")
            return client, client.redirect_uris[0]
        if redirect_uri not in client.redirect_uris:
            raise NoRedirectError("The return address is not registered for this application.")
        return client, redirect_uri

    def check(
        self, params: Mapping[str, str], resources: tuple[str, ...], client: Client, redirect: str
    ) -> AuthorizationRequest:
        """Step two: the rest, whose errors go back to the client's redirect URI."""
        if "request" in params or "request_uri" in params:
            error = "request_not_supported" if "request" in params else "request_uri_not_supported"
            raise _OidcError(error, "Request objects are not supported.")
        response_type = params.get("response_type")
        if not response_type:
            raise InvalidRequest("The response_type parameter is missing.")
        if response_type != "code":
            raise UnsupportedResponseType(
                "Only response_type=code is supported (RFC 9700 §2.1.2: no implicit flow)."
            )
        if params.get("response_mode", "query") != "query":
            raise InvalidRequest("Only response_mode=query is supported.")
        if AUTHORIZATION_CODE not in client.grant_types:
            raise UnauthorizedClient(detail=f"client {client.id} lacks authorization_code")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if not challenge:
            raise InvalidRequest("PKCE is required: send code_challenge (S256).")
        if method != "S256":
            raise InvalidRequest(
                "The code_challenge_method parameter must be S256 (plain is refused)."
            )
        if not pkce.is_challenge(challenge):
            raise InvalidRequest("The code_challenge parameter is not a base64url SHA-256 value.")
        scope = requested_scope(params.get("scope"), client.scopes, default=client.scopes)
        prompt = frozenset(params.get("prompt", "").split())
        if not prompt <= PROMPTS or ("none" in prompt and len(prompt) > 1):
            raise InvalidRequest(
                "The prompt parameter is none, login, consent or select_account; none alone."
            )
        max_age = _max_age(params.get("max_age"))
        state, nonce = params.get("state"), params.get("nonce")
        if state is not None and len(state) > _MAX_STATE:
            raise InvalidRequest("The state parameter is too long.")
        if nonce is not None and len(nonce) > _MAX_NONCE:
            raise InvalidRequest("The nonce parameter is too long.")
        dpop_jkt = checked_thumbprint(params.get("dpop_jkt"))
        userinfo = self._userinfo_audience if "openid" in scope.split(" ") else None
        audiences = requested_audiences(resources, client, userinfo=userinfo)
        return AuthorizationRequest(
            client=client,
            redirect_uri=redirect,
            scope=scope,
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            prompt=prompt,
            max_age=max_age,
            audiences=audiences,
            dpop_jkt=dpop_jkt,
        )

    async def needs_consent(self, user: User, request: AuthorizationRequest) -> bool:
        """First-party clients never ask; others ask unless the user granted every scope
        before, or ``prompt=consent`` asks again (Core §3.1.2.1)."""
        if request.client.first_party:
            return False
        if "consent" in request.prompt:
            return True
        consent = await self._consents.get(user.id, request.client.id)
        return consent is None or not parse_scope(request.scope) <= consent.scopes

    async def remember_consent(self, user: User, request: AuthorizationRequest) -> None:
        earlier = await self._consents.get(user.id, request.client.id)
        scopes = parse_scope(request.scope) | (earlier.scopes if earlier else frozenset())
        await self._consents.put(
            Consent(user.id, request.client.id, scopes, granted_at=self._clock.now())
        )

    async def issue_code(
        self,
        request: AuthorizationRequest,
        user: User,
        *,
        auth_time: float,
        browser_session_id: str | None,
    ) -> str:
        """A single-use code (256 random bits, kept as SHA-256) bound to the client, the
        redirect URI, the PKCE challenge, the user and, if the request named one, the DPoP
        key of ``dpop_jkt`` (RFC 9449 §10), valid ``code_ttl`` seconds."""
        code = secrets.token_urlsafe(32)
        now = self._clock.now()
        await self._codes.add(
            AuthorizationCode(
                code_hash=hash_code(code),
                client_id=request.client.id,
                user_id=user.id,
                redirect_uri=request.redirect_uri,
                scope=request.scope,
                audiences=request.audiences,
                code_challenge=request.code_challenge,
                nonce=request.nonce,
                auth_time=auth_time,
                browser_session_id=browser_session_id,
                issued_at=now,
                expires_at=now + self._code_ttl,
                dpop_jkt=request.dpop_jkt,
            )
        )
        return code


class _OidcError(InvalidRequest):
    """An OpenID Connect error code with no class of its own (Core §3.1.2.6)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error  # type: ignore[misc]


def _max_age(value: str | None) -> int | None:
    if value is None:
        return None
    # isascii: str.isdigit also says yes to "²" (which int() refuses) and to other scripts' digits.
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise InvalidRequest("The max_age parameter is a number of seconds.")
    return int(value)
