"""OAuth clients: registration with validated settings, secrets, and client authentication.

- Registration (RFC 6749 §2, RFC 7591 §2 names): every setting is checked and a bad one is an
  :class:`~ostiary.errors.InvalidClientMetadata` that says which and why. Redirect URIs are
  matched exactly later, so they are checked strictly now (RFC 9700 §4.1.3, RFC 8252 §7).
- Secrets are 256 random bits, shown once, stored as SHA-256: a high-entropy secret cannot be
  guessed from its hash, so no slow hash is needed and the token endpoint stays fast.
- Authentication at the token endpoint (RFC 6749 §2.3): ``client_secret_basic``,
  ``client_secret_post``, ``private_key_jwt`` (RFC 7523 §2.2 and §3, ``aud`` exactly the issuer
  identifier, with ``jti`` replay protection) or ``none`` for public clients. One method per
  request, the one registered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlsplit

from ostiary.authz.scopes import parse_scope
from ostiary.authz.trust import ServerAudiences
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import (
    InvalidClient,
    InvalidClientMetadata,
    InvalidKey,
    InvalidRequest,
    InvalidToken,
    NotFound,
)
from ostiary.jose import AudienceMatch, ClaimRules, JWKSet, JWTVerifier, parse_compact
from ostiary.storage.protocols import ClientStore, Conflict, OnceStore
from ostiary.storage.records import USER_ID_PREFIX, Client, ClientAuthMethod

AUTHORIZATION_CODE: Final = "authorization_code"
REFRESH_TOKEN: Final = "refresh_token"
CLIENT_CREDENTIALS: Final = "client_credentials"
GRANT_TYPES: Final = frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS})
SECRET_METHODS: Final = frozenset(
    {ClientAuthMethod.CLIENT_SECRET_BASIC, ClientAuthMethod.CLIENT_SECRET_POST}
)
#: RFC 7523 §2.2.
JWT_BEARER_ASSERTION: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: A client assertion may live this long at most (iat/exp), so that its jti is kept briefly.
MAX_ASSERTION_LIFETIME: Final = 300.0
MAX_ASSERTION_SIZE: Final = 8192
ASSERTION_TYPES: Final = frozenset({"jwt", "client-authentication+jwt"})
_CLIENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,99}")
_NAME_MAX: Final = 100
_URI_MAX: Final = 2000
_MAX_URIS: Final = 20
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
#: RFC 8252 §7.1: a private-use scheme is a reversed domain name, so it has a dot.
_PRIVATE_SCHEME: Final = re.compile(r"[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+")
_AUDIENCE: Final = re.compile(r"[\x21-\x7e]{1,200}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What an operator registers; checked by :meth:`ClientRegistry.create`."""

    name: str
    auth_method: ClientAuthMethod = ClientAuthMethod.CLIENT_SECRET_BASIC
    grant_types: frozenset[str] = frozenset({CLIENT_CREDENTIALS})
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    audiences: frozenset[str] = frozenset()
    first_party: bool = False
    #: The public JWK Set (a dict ``{"keys": [...]}``) for ``private_key_jwt``.
    jwks: dict[str, Any] | None = None
    #: Where Logout Tokens go (OpenID Connect Back-Channel Logout 1.0 §2.2).
    backchannel_logout_uri: str | None = None
    #: The client wants ``sid`` in each Logout Token (§2.2; Ostiary sends it anyway).
    backchannel_logout_session_required: bool = True


@dataclass(frozen=True, slots=True)
class Registered:
    client: Client
    #: The plaintext secret, shown once; None for public and ``private_key_jwt`` clients.
    secret: str | None

    def __repr__(self) -> str:
        return f"Registered(client_id={self.client.id!r})"


class ClientRegistry:
    """Creates, changes and finds clients. ``get`` is served from a short-lived in-process
    cache (``cache_seconds``), so that the token endpoint does not read the database on every
    request; changes made here drop the entry at once, changes made by another process are
    seen within ``cache_seconds``.

    No client may be registered for the server's own account or UserInfo audiences, nor for
    its admin audience without the admin scope (:meth:`ServerAudiences.registration_problem`);
    client ids never look like user ids (RFC 9068 §5: a client's ``sub`` never names a user);
    deleting a client ends its refresh families (``end_sessions``)."""

    def __init__(
        self,
        store: ClientStore,
        *,
        audiences: ServerAudiences,
        end_sessions: Callable[[str], Awaitable[object]],
        clock: Clock = SYSTEM_CLOCK,
        cache_seconds: float = 5.0,
    ) -> None:
        self._store = store
        self._audiences = audiences
        self._end_sessions = end_sessions
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Client | None]] = {}

    async def create(self, settings: ClientSettings, *, client_id: str | None = None) -> Registered:
        """Register a client; its secret (if it has one) is returned once and stored hashed."""
        checked = check_settings(settings)
        problem = self._audiences.registration_problem(checked.audiences, checked.scopes)
        if problem is not None:
            raise InvalidClientMetadata(f"Invalid audience: {problem}.")
        cid = client_id if client_id is not None else "cl_" + secrets.token_urlsafe(12)
        if not _CLIENT_ID.fullmatch(cid):
            raise InvalidClientMetadata(
                "A client id is 1 to 100 letters, digits and '._~-', starting with a letter "
                "or digit."
            )
        if cid.lower().startswith(USER_ID_PREFIX):
            raise InvalidClientMetadata(
                f"A client id may not start with {USER_ID_PREFIX!r}: that is how user ids "
                "start, and a client's tokens must never name a user (RFC 9068 §5)."
            )
        secret = new_secret() if checked.auth_method in SECRET_METHODS else None
        now = self._clock.now()
        client = Client(
            id=cid,
            name=checked.name,
            auth_method=checked.auth_method,
            secret_hash=hash_secret(secret) if secret is not None else None,
            jwks=json.dumps(checked.jwks, sort_keys=True) if checked.jwks is not None else None,
            redirect_uris=checked.redirect_uris,
            post_logout_redirect_uris=checked.post_logout_redirect_uris,
            grant_types=checked.grant_types,
            scopes=checked.scopes,
            audiences=checked.audiences,
            first_party=checked.first_party,
            created_at=now,
            updated_at=now,
            backchannel_logout_uri=checked.backchannel_logout_uri,
            backchannel_logout_session_required=checked.backchannel_logout_session_required,
        )
        try:
            await self._store.create(client)
        except Conflict:
            raise InvalidClientMetadata(f"The client id {cid!r} is taken.") from None
        self._cache.pop(cid, None)
        return Registered(client, secret)

    async def rotate_secret(self, client_id: str) -> Registered:
        """A new secret for a ``client_secret_*`` client; the old one stops working at once
        in this process (and within ``cache_seconds`` in others)."""
        client = await self.require(client_id)
        if client.auth_method not in SECRET_METHODS:
            raise InvalidClientMetadata(f"Client {client_id} does not authenticate with a secret.")
        secret = new_secret()
        updated = replace(client, secret_hash=hash_secret(secret), updated_at=self._clock.now())
        await self._store.update(updated)
        self._cache.pop(client_id, None)
        return Registered(updated, secret)

    async def set_secret(self, client_id: str, secret: str) -> Client:
        """Give a ``client_secret_*`` client a secret chosen by the operator (at least 32
        characters: it is stored as a fast hash, so it must be high-entropy)."""
        if len(secret) < 32:
            raise InvalidClientMetadata("A client secret has at least 32 characters.")
        client = await self.require(client_id)
        if client.auth_method not in SECRET_METHODS:
            raise InvalidClientMetadata(f"Client {client_id} does not authenticate with a secret.")
        updated = replace(client, secret_hash=hash_secret(secret), updated_at=self._clock.now())
        await self._store.update(updated)
        self._cache.pop(client_id, None)
        return updated

    async def set_audiences(self, client_id: str, audiences: frozenset[str]) -> Client:
        """Register the client for ``audiences`` instead (under the same rules as at
        creation); its refresh families keep the audiences they were granted."""
        client = await self.require(client_id)
        problem = self._audiences.registration_problem(audiences, client.scopes)
        if problem is not None:
            raise InvalidClientMetadata(f"Invalid audience: {problem}.")
        updated = replace(client, audiences=audiences, updated_at=self._clock.now())
        await self._store.update(updated)
        self._cache.pop(client_id, None)
        return updated

    async def delete(self, client_id: str) -> bool:
        """Delete the client and end its refresh families with their access tokens: a
        refresh token is bound to its client and dies with it (RFC 6749 §10.4)."""
        deleted = await self._store.delete(client_id)
        self._cache.pop(client_id, None)
        await self._end_sessions(client_id)
        return deleted

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[Client]:
        return await self._store.list(offset=offset, limit=limit)

    async def get(self, client_id: str) -> Client | None:
        now = self._clock.now()
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        client = await self._store.get(client_id)
        if len(self._cache) >= 10_000:  # unknown ids must not grow it without bound
            self._cache.clear()
        self._cache[client_id] = (now + self._cache_seconds, client)
        return client

    async def require(self, client_id: str) -> Client:
        client = await self.get(client_id)
        if client is None:
            raise NotFound(f"There is no client {client_id}.")
        return client


# --- settings ---------------------------------------------------------------------------------


def check_settings(settings: ClientSettings) -> ClientSettings:
    """``settings`` if every one is valid and they fit together; otherwise
    :class:`InvalidClientMetadata` naming the first problem."""
    name = settings.name.strip()
    if not 0 < len(name) <= _NAME_MAX or not name.isprintable():
        raise InvalidClientMetadata(f"A client name is 1 to {_NAME_MAX} printable characters.")
    try:
        method = ClientAuthMethod(settings.auth_method)
    except ValueError:
        methods = ", ".join(m.value for m in ClientAuthMethod)
        raise InvalidClientMetadata(f"The auth method is one of {methods}.") from None
    grants = frozenset(settings.grant_types)
    if not grants:
        raise InvalidClientMetadata("A client needs at least one grant type.")
    unknown = sorted(grants - GRANT_TYPES)
    if unknown:
        raise InvalidClientMetadata(
            f"Unsupported grant type {unknown[0]!r}: use {', '.join(sorted(GRANT_TYPES))} "
            "(password and implicit are refused, RFC 9700 §2.4 and §2.1.2)."
        )
    if REFRESH_TOKEN in grants and AUTHORIZATION_CODE not in grants:
        raise InvalidClientMetadata("refresh_token comes with authorization_code.")
    if method is ClientAuthMethod.NONE and CLIENT_CREDENTIALS in grants:
        raise InvalidClientMetadata(
            "A public client (auth method 'none') cannot use client_credentials: it has no "
            "credentials."
        )
    redirects = _uris(settings.redirect_uris, "redirect URI")
    if AUTHORIZATION_CODE in grants and not redirects:
        raise InvalidClientMetadata("authorization_code needs at least one redirect URI.")
    if AUTHORIZATION_CODE not in grants and redirects:
        raise InvalidClientMetadata("Redirect URIs are only for authorization_code clients.")
    logouts = _uris(settings.post_logout_redirect_uris, "post-logout redirect URI")
    if logouts and AUTHORIZATION_CODE not in grants:
        raise InvalidClientMetadata(
            "Post-logout redirect URIs are only for authorization_code clients."
        )
    backchannel = _backchannel_logout_uri(settings.backchannel_logout_uri, grants)
    try:
        scopes = parse_scope(" ".join(settings.scopes))
    except ValueError as exc:
        raise InvalidClientMetadata(f"Invalid scope: {exc}.") from None
    for audience in settings.audiences:
        if not _AUDIENCE.fullmatch(audience):
            raise InvalidClientMetadata(
                "An audience is 1 to 200 printable ASCII characters without spaces (an "
                "absolute URI such as https://api.example.com is best, RFC 8707)."
            )
    jwks = settings.jwks
    if method is ClientAuthMethod.PRIVATE_KEY_JWT:
        if jwks is None:
            raise InvalidClientMetadata("private_key_jwt needs the client's public JWK Set.")
        _client_keys(jwks)  # raises if unusable
    elif jwks is not None:
        raise InvalidClientMetadata("A JWK Set is only for private_key_jwt clients.")
    return ClientSettings(
        name=name,
        auth_method=method,
        grant_types=grants,
        redirect_uris=redirects,
        post_logout_redirect_uris=logouts,
        scopes=scopes,
        audiences=frozenset(settings.audiences),
        first_party=settings.first_party,
        jwks=jwks,
        backchannel_logout_uri=backchannel,
        backchannel_logout_session_required=settings.backchannel_logout_session_required,
    )


def _uris(values: Iterable[str], what: str) -> tuple[str, ...]:
    uris = tuple(dict.fromkeys(values))
    if len(uris) > _MAX_URIS:
        raise InvalidClientMetadata(f"At most {_MAX_URIS} of each kind of redirect URI.")
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem is not None:
            raise InvalidClientMetadata(f"Invalid {what} {uri[:100]!r}: {problem}.")
    return uris


def _backchannel_logout_uri(uri: str | None, grants: frozenset[str]) -> str | None:
    """OpenID Connect Back-Channel Logout 1.0 §2.2: an absolute URL, no fragment; here
    ``https`` (plain ``http`` on a loopback host only, as for redirect URIs), for clients that
    sign users in (``authorization_code``): only they have sessions to end."""
    if uri is None:
        return None
    if AUTHORIZATION_CODE not in grants:
        raise InvalidClientMetadata(
            "A back-channel logout URI is only for authorization_code clients."
        )
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme in ("https", "http"):
        problem = redirect_uri_problem(uri)
    else:
        problem = "it is an https URL (http only on a loopback host)"
    if problem is not None:
        raise InvalidClientMetadata(f"Invalid back-channel logout URI {uri[:100]!r}: {problem}.")
    return uri


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be registered as a redirect URI, or None. Absolute, no fragment,
    no wildcard, no user info; ``https``, ``http`` on a loopback host only (RFC 8252 §7.3),
    or a private-use scheme with a dot (RFC 8252 §7.1)."""
    if len(uri) > _URI_MAX or not uri.isprintable() or any(c.isspace() for c in uri):
        return "it is too long or has spaces or control characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "it is not a valid URI"
    if parts.fragment or "#" in uri:
        return "it has a fragment (RFC 6749 §3.1.2)"
    if "*" in uri:
        return "wildcards are not allowed; redirect URIs are matched exactly"
    if parts.username is not None or parts.password is not None:
        return "it has user information"
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None if parts.hostname else "it has no host"
    if scheme == "http":
        if parts.hostname in _LOOPBACK_HOSTS or f"[{parts.hostname}]" in _LOOPBACK_HOSTS:
            return None
        return "plain http is only allowed for localhost, 127.0.0.1 and [::1]"
    if _PRIVATE_SCHEME.fullmatch(scheme):
        return None
    return "use https, http on a loopback host, or a private-use scheme such as com.example.app"


def _client_keys(jwks: Any) -> JWKSet:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise InvalidClientMetadata('A JWK Set is a JSON object {"keys": [...]}.')
    try:
        keys = JWKSet.from_dict(jwks)
    except (InvalidKey, ValueError) as exc:
        raise InvalidClientMetadata(f"The client's JWK Set is not usable: {exc}") from None
    if not len(keys):
        raise InvalidClientMetadata("The client's JWK Set has no key.")
    if any(key.is_private or key.is_symmetric for key in keys):
        raise InvalidClientMetadata("Register public keys only: no private or symmetric keys.")
    return keys


# --- authentication ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a token request carried to authenticate its client (RFC 6749 §2.3)."""

    #: From ``Authorization: Basic`` (already form-decoded, RFC 6749 §2.3.1).
    basic: tuple[str, str] | None = None
    #: ``client_id`` in the body.
    client_id: str | None = None
    #: ``client_secret`` in the body.
    client_secret: str | None = None
    client_assertion_type: str | None = None
    client_assertion: str | None = None

    def __repr__(self) -> str:  # never the secret or the assertion
        who = self.basic[0] if self.basic is not None else self.client_id
        return f"ClientCredentials(client_id={who!r})"


def assertion_rules(client_id: str, *, issuer: str, leeway: float) -> ClaimRules:
    """What a client assertion must carry (RFC 7523 §3): ``iss`` and ``sub`` the client id,
    ``exp`` and ``jti`` present, ``typ`` (if any) ``JWT`` or ``client-authentication+jwt``.

    ``aud`` is this server's issuer identifier, a single string, compared exactly: not an
    array that also holds it, not an endpoint URL. Since the audience-injection disclosure
    (CVE-2025-27370/27371, draft-ietf-oauth-rfc7523bis, FAPI 2.0) a client may have been
    tricked into signing an assertion whose ``aud`` names another server's endpoint, or several
    servers; only the issuer identifier, alone, says the assertion was made for this server.
    """
    return ClaimRules(
        issuer=client_id,
        audiences=frozenset({issuer}),
        audience_match=AudienceMatch.EXACT,
        subject=client_id,
        required=("iss", "sub", "aud", "exp", "jti"),
        leeway=leeway,
        types=ASSERTION_TYPES,
        type_required=False,
    )


class ClientAuthenticator:
    """Authenticates the client of a token, revocation or introspection request.

    ``issuer`` is this server's issuer identifier, the one ``aud`` a client assertion may carry
    (:func:`assertion_rules`).
    """

    def __init__(
        self,
        registry: ClientRegistry,
        once: OnceStore,
        *,
        issuer: str,
        clock: Clock = SYSTEM_CLOCK,
        leeway: float = 30.0,
    ) -> None:
        self._registry = registry
        self._once = once
        self._issuer = issuer
        self._clock = clock
        self._leeway = leeway

    async def authenticate(self, credentials: ClientCredentials) -> Client:
        """The authenticated client, or :class:`InvalidClient` (401) for unknown clients,
        wrong secrets, bad assertions and methods other than the registered one;
        :class:`InvalidRequest` when the request uses several methods or none."""
        method = _method_of(credentials)
        client_id = _claimed_id(credentials, method)
        client = await self._registry.get(client_id)
        if client is None:
            _burn_time()
            raise InvalidClient(detail=f"unknown client {client_id[:100]!r}")
        if client.auth_method is not method:
            raise InvalidClient(
                detail=f"client {client.id} authenticated with {method.value}, "
                f"registered for {client.auth_method.value}"
            )
        if method in SECRET_METHODS:
            secret = credentials.basic[1] if credentials.basic else credentials.client_secret
            if not _secret_matches(client, secret or ""):
                raise InvalidClient(detail=f"wrong secret for client {client.id}")
        elif method is ClientAuthMethod.PRIVATE_KEY_JWT:
            await self._check_assertion(client, credentials.client_assertion or "")
        return client

    async def _check_assertion(self, client: Client, assertion: str) -> None:
        """RFC 7523 §3 as :func:`assertion_rules` says, signed by one of the client's keys;
        then ``exp`` near and ``jti`` used once."""
        keys = _client_keys(json.loads(client.jwks or "{}"))
        rules = assertion_rules(client.id, issuer=self._issuer, leeway=self._leeway)
        verifier = JWTVerifier(rules, max_size=MAX_ASSERTION_SIZE)
        now = self._clock.now()
        try:
            parsed = verifier.parse(assertion)
            key = keys.get(parsed.kid)  # without a kid: the client's only key
            if key is None:
                raise InvalidClient(detail="no registered key matches the assertion's kid")
            claims = verifier.finish(parsed, key, now=now)
        except InvalidToken as exc:
            why = f" ({exc.detail})" if exc.detail else ""
            raise InvalidClient(detail=f"client assertion: {exc.description}{why}") from None
        exp = float(claims["exp"])
        start = float(claims.get("iat", claims.get("nbf", now)))
        if exp - min(start, now) > MAX_ASSERTION_LIFETIME + self._leeway:
            raise InvalidClient(detail="client assertion lives longer than 5 minutes")
        jti = claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= 200:
            raise InvalidClient(detail="client assertion jti is not a short string")
        key_id = f"assertion:{client.id}:{jti}"
        if not await self._once.first_use(key_id, expires_at=exp + self._leeway, now=now):
            raise InvalidClient(detail="client assertion replayed (jti seen before)")


def _method_of(credentials: ClientCredentials) -> ClientAuthMethod:
    """The one method the request used (RFC 6749 §2.3: never more than one)."""
    used = []
    if credentials.basic is not None:
        used.append(ClientAuthMethod.CLIENT_SECRET_BASIC)
    if credentials.client_secret is not None:
        used.append(ClientAuthMethod.CLIENT_SECRET_POST)
    if credentials.client_assertion is not None or credentials.client_assertion_type is not None:
        if credentials.client_assertion_type != JWT_BEARER_ASSERTION:
            raise InvalidClient(detail="client_assertion_type is not jwt-bearer")
        if credentials.client_assertion is None:
            raise InvalidRequest("client_assertion is missing.")
        used.append(ClientAuthMethod.PRIVATE_KEY_JWT)
    if len(used) > 1:
        raise InvalidRequest("Use one client authentication method per request.")
    if used:
        return used[0]
    if credentials.client_id is None:
        raise InvalidClient(detail="no client authentication and no client_id")
    return ClientAuthMethod.NONE


def _claimed_id(credentials: ClientCredentials, method: ClientAuthMethod) -> str:
    if method is ClientAuthMethod.CLIENT_SECRET_BASIC:
        assert credentials.basic is not None
        claimed = credentials.basic[0]
        if credentials.client_id is not None and credentials.client_id != claimed:
            raise InvalidRequest("client_id in the body differs from the authenticated one.")
        return claimed
    if method is ClientAuthMethod.PRIVATE_KEY_JWT:
        issuer = _unverified_issuer(credentials.client_assertion or "")
        if credentials.client_id is not None and credentials.client_id != issuer:
            raise InvalidClient(detail="client_id differs from the assertion's issuer")
        return issuer
    if credentials.client_id is None:
        raise InvalidRequest("client_id is missing.")
    return credentials.client_id


def _unverified_issuer(assertion: str) -> str:
    """The ``iss`` of a client assertion, read before verifying it to find the client's keys
    (RFC 7523 §3: it names the client). Nothing else is trusted until the signature is."""
    try:
        parsed = parse_compact(assertion, max_size=MAX_ASSERTION_SIZE)
        issuer = json.loads(parsed.payload).get("iss")
    except (InvalidToken, ValueError, AttributeError, RecursionError):
        raise InvalidClient(detail="client assertion is not a compact JWS") from None
    if not isinstance(issuer, str) or not issuer:
        raise InvalidClient(detail="client assertion has no iss")
    return issuer


def _secret_matches(client: Client, secret: str) -> bool:
    if client.secret_hash is None:
        return False
    return hmac.compare_digest(hash_secret(secret), client.secret_hash)


def _burn_time() -> None:
    """An unknown client costs what a known one does: one hash and one comparison."""
    hmac.compare_digest(hash_secret(""), "0" * 64)
