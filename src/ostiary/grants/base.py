"""What every grant shares: the token request, the response, and the choice of scope and
audience (RFC 6749 §3.3 and §5.1, RFC 8707 §2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ostiary.authz.scopes import format_scope, parse_scope
from ostiary.errors import InvalidRequest, InvalidScope, InvalidTarget
from ostiary.storage.records import Client
from ostiary.tokens.access import IssuedToken
from ostiary.tokens.dpop_binding import TokenType, token_type


@dataclass(frozen=True, slots=True)
class OAuthParams:
    """The parameters of an OAuth request (a token request, an authorization request, an
    RP-initiated logout), each given at most once (RFC 6749 §3.1, §3.2), except ``resource``,
    which RFC 8707 §2 lets a client repeat."""

    params: Mapping[str, str]
    resources: tuple[str, ...] = ()

    def get(self, name: str) -> str | None:
        return self.params.get(name)

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if not value:
            raise InvalidRequest(f"The {name} parameter is missing.")
        return value

    def __repr__(self) -> str:  # parameters include codes, verifiers and secrets
        return f"OAuthParams(grant_type={self.params.get('grant_type')!r})"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """What a grant issued: the token endpoint's answer, RFC 6749 §5.1 (and OpenID Connect
    Core §3.1.3.3 for ``id_token``); the server renders it as its ``TokenResponse`` schema."""

    access: IssuedToken
    scope: str
    refresh_token: str | None = None
    refresh_expires_in: int | None = None
    id_token: str | None = None
    #: The thumbprint of the DPoP key the access token is bound to (RFC 9449 §6.1), if any.
    dpop_jkt: str | None = None

    @property
    def token_type(self) -> TokenType:
        """RFC 9449 §5: ``DPoP`` for a bound access token, else ``Bearer``."""
        return token_type(self.dpop_jkt)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access.token,
            "token_type": self.token_type,
            "expires_in": self.access.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.refresh_expires_in is not None:
            body["refresh_token_expires_in"] = self.refresh_expires_in
        if self.id_token is not None:
            body["id_token"] = self.id_token
        return body

    def __repr__(self) -> str:
        return f"IssuedTokens(jti={self.access.jti!r}, scope={self.scope!r})"


class Grant(Protocol):
    """One ``grant_type`` of the token endpoint. ``dpop_jkt`` is the thumbprint of the key of
    the request's valid DPoP proof (RFC 9449 §5), None without one."""

    @property
    def grant_type(self) -> str: ...

    async def exchange(
        self, request: OAuthParams, client: Client, *, dpop_jkt: str | None = None
    ) -> IssuedTokens: ...


def requested_scope(value: str | None, allowed: Iterable[str], *, default: Iterable[str]) -> str:
    """The scope to grant: what was asked if the client may have all of it (RFC 6749 §3.3),
    ``default`` if nothing was asked; :class:`InvalidScope` otherwise."""
    allowed = frozenset(allowed)
    if value is None or not value.strip(" "):  # an empty scope asks for nothing in particular
        return format_scope(set(default) & allowed)
    try:
        asked = parse_scope(value)
    except ValueError:
        raise InvalidScope("The scope parameter is malformed.") from None
    refused = sorted(asked - allowed)
    if refused:
        raise InvalidScope(
            f"The client may not ask for the scope {refused[0]!r}.",
            detail=f"refused {refused}",
        )
    return format_scope(asked)


def requested_audiences(
    resources: Iterable[str], client: Client, *, userinfo: str | None = None
) -> tuple[str, ...]:
    """The audiences the token will name (RFC 8707 §2; RFC 9700 §2.3, audience-restricted
    tokens): each ``resource`` asked must be one the client is registered for; none asked
    gives every registered one, plus ``userinfo`` (the UserInfo endpoint's audience, given
    when the scope has ``openid``). A client registered for no audience that asks for no
    ``openid`` gets no token at all (:class:`InvalidTarget`): a token for no API is of no
    use, and never one for the server's own APIs."""
    asked = tuple(dict.fromkeys(resources))
    if not asked:
        registered = (*sorted(client.audiences), *((userinfo,) if userinfo else ()))
        if not registered:
            raise InvalidTarget(
                "The client is registered for no resource (audience).",
                detail=f"client {client.id} has no audience",
            )
        return registered
    refused = [r for r in asked if r not in client.audiences]
    if refused:
        raise InvalidTarget(
            f"The client may not ask for the resource {refused[0][:100]!r}.",
            detail=f"client {client.id} asked for {refused}",
        )
    return asked


def within_grant(
    resources: Iterable[str], granted: tuple[str, ...], *, client_id: str
) -> tuple[str, ...]:
    """RFC 8707 §2.2: ``resource`` at the token endpoint (a code exchange, a refresh) narrows
    the access token to the resources named, each of which the grant includes; without it,
    the whole grant. Never wider: :class:`InvalidTarget` otherwise."""
    asked = tuple(dict.fromkeys(resources))
    if not asked:
        return granted
    refused = [r for r in asked if r not in granted]
    if refused:
        raise InvalidTarget(
            f"The grant does not include the resource {refused[0][:100]!r}.",
            detail=f"client {client_id} asked for {refused}",
        )
    return asked
