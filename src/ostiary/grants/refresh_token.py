"""The refresh token grant (RFC 6749 §6) for OAuth clients: rotation and reuse detection as
in the first-party API (RFC 9700 §4.14.2), the token bound to the client it was issued to, and
the scope narrowed on request, never widened."""

from __future__ import annotations

from typing import Final

from ostiary.authn.accounts import Accounts
from ostiary.authn.clients import REFRESH_TOKEN
from ostiary.authz.scopes import format_scope, parse_scope
from ostiary.errors import InvalidGrant, InvalidScope, InvalidTarget, NotFound, RefreshTokenReused
from ostiary.grants.base import TokenRequest, TokenResponse, requested_audiences
from ostiary.storage.records import Client
from ostiary.tokens.access import AccessTokenIssuer
from ostiary.tokens.refresh import RefreshTokens
from ostiary.tokens.revocation import Revocations


class RefreshTokenGrant:
    grant_type: Final = REFRESH_TOKEN

    def __init__(
        self,
        refresh: RefreshTokens,
        accounts: Accounts,
        revocations: Revocations,
        issuer: AccessTokenIssuer,
        *,
        default_audience: str,
    ) -> None:
        self._refresh = refresh
        self._accounts = accounts
        self._revocations = revocations
        self._issuer = issuer
        self._default_audience = default_audience

    def _audiences(
        self, resources: tuple[str, ...], client: Client, granted: tuple[str, ...]
    ) -> tuple[str, ...]:
        return _granted_audiences(resources, client, granted, self._default_audience)

    async def exchange(self, request: TokenRequest, client: Client) -> TokenResponse:
        token = request.require("refresh_token")
        narrowed = _narrowed(request.get("scope"))
        # Checked before rotating: a refused request must leave the token usable, or the
        # client's retry with it would look like reuse and end its whole family.
        found = await self._refresh.find(token)
        if found is None or found[1].client_id != client.id:
            raise InvalidGrant(detail=f"refresh token unknown or not of client {client.id}")
        if narrowed is not None:
            _check_within(narrowed, found[1].scope)
        audiences = self._audiences(request.resources, client, found[1].audiences)
        try:
            rotated = await self._refresh.rotate(token)  # its client was checked above
        except RefreshTokenReused as exc:
            await self._revocations.revoke_session(exc.session_id)
            raise
        session = rotated.session
        granted = parse_scope(session.scope)
        if narrowed is not None:
            _check_within(narrowed, session.scope)
        try:
            user = await self._accounts.get(session.user_id)
        except NotFound:
            user = None
        if user is None or user.disabled:
            await self._refresh.revoke_session(session.id)
            await self._revocations.revoke_session(session.id)
            raise InvalidGrant(detail=f"the user of session {session.id} is gone or disabled")
        scope = format_scope(narrowed if narrowed is not None else granted)
        access = self._issuer.issue(
            subject=user.id,
            client_id=client.id,
            scope=scope,
            roles=user.roles,
            session_id=session.id,
            audience=audiences,
        )
        return TokenResponse(
            access=access,
            scope=scope,
            refresh_token=rotated.token,
            refresh_expires_in=self._refresh.expires_in(session),
        )


def _granted_audiences(
    resources: tuple[str, ...], client: Client, granted: tuple[str, ...], default: str
) -> tuple[str, ...]:
    """RFC 8707 §2.2: ``resource`` at refresh may narrow the audiences the grant was given for,
    never widen them; without it, the grant's own."""
    if not granted:  # a family that recorded none: the client's registered ones
        return requested_audiences(resources, client, default=default)
    asked = tuple(dict.fromkeys(resources))
    if not asked:
        return granted
    refused = [r for r in asked if r not in granted]
    if refused:
        raise InvalidTarget(
            f"The grant does not include the resource {refused[0][:100]!r}.",
            detail=f"refresh of client {client.id} asked for {refused}",
        )
    return asked


def _narrowed(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    try:
        return parse_scope(value)
    except ValueError:
        raise InvalidScope("The scope parameter is malformed.") from None


def _check_within(narrowed: frozenset[str], granted: str) -> None:
    """RFC 6749 §6: the scope asked may not include any the grant did not."""
    if not narrowed <= parse_scope(granted):
        raise InvalidScope(detail="refresh asked for a scope the grant did not include")
