"""Client authentication at the token endpoint (RFC 6749 §2.3): ``client_secret_basic``,
``client_secret_post``, ``private_key_jwt`` (RFC 7523 §2.2 and §3, ``aud`` exactly the issuer
identifier, with ``jti`` replay protection) or ``none`` for public clients. One method per
request, the one registered.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Final

from ostiary.authn.client_registry import ClientRegistry, hash_secret
from ostiary.authn.client_settings import SECRET_METHODS, client_keys
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidToken,
)
from ostiary.jose import AudienceMatch, ClaimRules, JWTVerifier, parse_compact
from ostiary.storage.protocols import OnceStore
from ostiary.storage.records import Client, ClientAuthMethod

#: RFC 7523 §2.2.
JWT_BEARER_ASSERTION: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


#: A client assertion may live this long at most (iat/exp), so that its jti is kept briefly.
MAX_ASSERTION_LIFETIME: Final = 300.0


MAX_ASSERTION_SIZE: Final = 8192


ASSERTION_TYPES: Final = frozenset({"jwt", "client-authentication+jwt"})


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
        keys = client_keys(json.loads(client.jwks or "{}"))
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
            raise InvalidRequest("The client_assertion parameter is missing.")
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
            raise InvalidRequest("The client_id parameter differs from the authenticated client.")
        return claimed
    if method is ClientAuthMethod.PRIVATE_KEY_JWT:
        issuer = _unverified_issuer(credentials.client_assertion or "")
        if credentials.client_id is not None and credentials.client_id != issuer:
            raise InvalidClient(detail="client_id differs from the assertion's issuer")
        return issuer
    if credentials.client_id is None:
        raise InvalidRequest("The client_id parameter is missing.")
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
