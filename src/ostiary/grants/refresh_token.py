"""The refresh token grant (RFC 6749 §6) for OAuth clients: rotation and reuse detection as
in the first-party API (RFC 9700 §4.14.2), the token bound to the client it was issued to, and
the scope and audiences narrowed on request, never widened (RFC 8707 §2.2)."""

from __future__ import annotations

from typing import Final

from ostiary.authn.client_settings import REFRESH_TOKEN
from ostiary.authz.scopes import format_scope, parse_scope
from ostiary.authz.trust import third_party_roles
from ostiary.errors import InvalidScope
from ostiary.grants.base import IssuedTokens, OAuthParams, requested_audiences, within_grant
from ostiary.storage.records import Client, LoginSession
from ostiary.tokens.access import AccessTokenIssuer
from ostiary.tokens.dpop_binding import require_key
from ostiary.tokens.lifecycle import SessionLifecycle


class RefreshTokenGrant:
    grant_type: Final = REFRESH_TOKEN

    def __init__(self, lifecycle: SessionLifecycle, issuer: AccessTokenIssuer) -> None:
        self._lifecycle = lifecycle
        self._issuer = issuer

    async def exchange(
        self, request: OAuthParams, client: Client, *, dpop_jkt: str | None = None
    ) -> IssuedTokens:
        token = request.require("refresh_token")
        narrowed = _narrowed(request.get("scope"))
        asks = narrowed is not None or bool(request.resources)

        def check(family: LoginSession) -> None:
            """Before rotating: a refused request must leave the token usable, or the
            client's retry with it would look like reuse and end its whole family. A family
            bound to a DPoP key (a public client's) wants a proof by it (RFC 9449 §5)."""
            require_key(family.dpop_jkt, dpop_jkt, what="refresh token")
            if not asks:
                return
            if narrowed is not None:
                _check_within(narrowed, family.scope)
            _granted_audiences(request.resources, client, family.audiences)

        refreshed = await self._lifecycle.rotate(token, client_id=client.id, check=check)
        session, user = refreshed.session, refreshed.user
        audiences = _granted_audiences(request.resources, client, session.audiences)
        scope = format_scope(narrowed if narrowed is not None else parse_scope(session.scope))
        access = self._issuer.issue(
            subject=user.id,
            client_id=client.id,
            scope=scope,
            roles=third_party_roles(parse_scope(scope), user.roles),
            session_id=session.id,
            audience=audiences,
            # RFC 9449 §5: bound to the key of this request's proof, the family's if bound.
            dpop_jkt=dpop_jkt,
        )
        return IssuedTokens(
            access=access,
            scope=scope,
            refresh_token=refreshed.issued.token,
            refresh_expires_in=self._lifecycle.families.expires_in(session),
            dpop_jkt=dpop_jkt,
        )


def _granted_audiences(
    resources: tuple[str, ...], client: Client, granted: tuple[str, ...]
) -> tuple[str, ...]:
    """The grant's audiences, narrowed by ``resource``; a family that recorded none (older
    data) falls back to the client's registered ones."""
    if not granted:
        return requested_audiences(resources, client)
    return within_grant(resources, granted, client_id=client.id)


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
