"""The trust model: which token may do what, where (docs/security.md, "Who may use which
token where").

Each API has an audience of its own (RFC 9700 §2.3, audience-restricted tokens; RFC 8707):

- the server's **account API** (``/auth/me``, sessions, logout, password): ``{issuer}/auth``.
  Only first-party sessions (``/auth/login``, cookie mode) get it; no OAuth client can be
  registered for it.
- its **admin API** (``/admin/*``): ``{issuer}/admin``. A token needs that audience, the
  ``admin`` scope *and* the ``admin`` role. First-party sessions of an administrator get it;
  an OAuth client only when registered for both the audience and the scope.
- the **UserInfo endpoint**: ``{issuer}/oauth/userinfo``, given with the ``openid`` scope to
  a client that asked for no other resource (OpenID Connect Core §5.3).
- the **revocation feed** (``/auth/revocations``): ``{issuer}/auth/revocations`` with the
  ``revocations:read`` scope, for the client-credentials tokens of resource services.
- every **resource service**: an audience of its own (``OSTIARY_AUDIENCE`` for the APIs that
  first-party sessions call; an OAuth client's registered audiences otherwise).

A third-party token carries the user's roles only when the client was granted the ``roles``
scope: scope, not the user's roles, bounds what a third-party client can do.

This module says what each kind of token must hold; it knows nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

from ostiary.errors import InsufficientScope, WrongAudience

#: The scope the admin API wants (with the admin role and the admin audience).
ADMIN_SCOPE: Final = "admin"
#: The role the admin API wants.
ADMIN_ROLE: Final = "admin"
#: The scope that puts the user's roles into a third-party client's access token.
ROLES_SCOPE: Final = "roles"
#: The scope that reads the revocation feed (with its audience): resource services' tokens.
REVOCATIONS_SCOPE: Final = "revocations:read"


@dataclass(frozen=True, slots=True)
class ServerAudiences:
    """The audiences of the server's own APIs, and of the APIs first-party tokens are for."""

    account: str
    admin: str
    userinfo: str
    #: The revocation feed's (``/auth/revocations``), for resource services' client tokens.
    revocations: str
    #: ``OSTIARY_AUDIENCE``: the resource services first-party sessions call.
    apis: tuple[str, ...]

    @classmethod
    def of(cls, issuer: str, apis: Iterable[str]) -> ServerAudiences:
        base = issuer.rstrip("/")
        return cls(
            account=f"{base}/auth",
            admin=f"{base}/admin",
            userinfo=f"{base}/oauth/userinfo",
            revocations=f"{base}/auth/revocations",
            apis=tuple(dict.fromkeys(apis)),
        )

    @property
    def reserved(self) -> frozenset[str]:
        """Audiences no OAuth client may be registered for: the account API is for first-party
        sessions only, UserInfo comes with the ``openid`` scope."""
        return frozenset({self.account, self.userinfo})

    def first_party(self, scopes: Collection[str]) -> tuple[str, ...]:
        """What a first-party session's access token is for: the account API, the APIs of
        ``OSTIARY_AUDIENCE``, and the admin API when its scope was granted."""
        admin = (self.admin,) if ADMIN_SCOPE in scopes else ()
        return tuple(dict.fromkeys((self.account, *admin, *self.apis)))

    def registration_problem(
        self, audiences: Collection[str], scopes: Collection[str]
    ) -> str | None:
        """Why a client may not be registered for ``audiences`` with ``scopes``, or None."""
        reserved = sorted(self.reserved & set(audiences))
        if reserved:
            return f"the audience {reserved[0]!r} is the server's own (first-party sessions only)"
        if self.admin in audiences and ADMIN_SCOPE not in scopes:
            return f"the audience {self.admin!r} needs the scope {ADMIN_SCOPE!r} as well"
        if ADMIN_SCOPE in scopes and self.admin not in audiences:
            return f"the scope {ADMIN_SCOPE!r} needs the audience {self.admin!r} as well"
        return None

    def requirements(self, first_party_client: str) -> EndpointRequirements:
        return EndpointRequirements(
            account=Requirement(self.account, first_party_client=first_party_client),
            admin=Requirement(
                self.admin, scopes=frozenset({ADMIN_SCOPE}), roles=frozenset({ADMIN_ROLE})
            ),
            revocations=Requirement(self.revocations, scopes=frozenset({REVOCATIONS_SCOPE})),
            userinfo=Requirement(self.userinfo, scopes=frozenset({"openid"})),
        )


@dataclass(frozen=True, slots=True)
class Requirement:
    """What one endpoint wants of a verified access token, besides a valid signature, issuer,
    lifetime and no revocation (those the verifier checks)."""

    #: The token's ``aud`` must contain this.
    audience: str
    #: Only tokens of first-party sessions: the first-party ``client_id`` and a ``sid``.
    first_party_client: str | None = None
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()

    def check(
        self,
        *,
        audiences: Collection[str],
        client_id: str,
        session_id: str | None,
        scopes: Collection[str],
        roles: Collection[str],
    ) -> None:
        """Raise :class:`WrongAudience` (401: the token is not for this API) or
        :class:`InsufficientScope` (403, RFC 6750 §3.1: a third-party token at a first-party
        endpoint, a scope or a role missing)."""
        if self.audience not in audiences:
            raise WrongAudience(detail=f"the token is not for {self.audience}")
        if self.first_party_client is not None and (
            client_id != self.first_party_client or session_id is None
        ):
            raise InsufficientScope(
                "This endpoint is for first-party sessions only.",
                detail=f"token of client {client_id!r} at a first-party endpoint",
            )
        missing_scopes = sorted(self.scopes - set(scopes))
        if missing_scopes:
            raise InsufficientScope(
                scope=" ".join(sorted(self.scopes)), detail=f"scopes {missing_scopes} missing"
            )
        if not self.roles <= set(roles):
            raise InsufficientScope(
                "The token's user lacks a role this endpoint needs.",
                detail=f"roles {sorted(self.roles - set(roles))} missing",
            )


def third_party_roles(scopes: Collection[str], roles: Iterable[str]) -> frozenset[str]:
    """The roles an OAuth client's token carries: the user's, only with the ``roles`` scope."""
    return frozenset(roles) if ROLES_SCOPE in scopes else frozenset()


@dataclass(frozen=True, slots=True)
class EndpointRequirements:
    """What each of the server's own APIs wants of a token (the table in docs/security.md)."""

    #: ``/auth/me``, ``/auth/sessions``, ``/auth/logout``, ``/auth/logout-all``,
    #: ``/auth/password``: first-party sessions only.
    account: Requirement
    #: ``/admin/*``: the admin audience, scope and role.
    admin: Requirement
    #: ``/auth/revocations``: the feed's audience and scope.
    revocations: Requirement
    #: ``/oauth/userinfo``: the UserInfo audience and ``openid``.
    userinfo: Requirement
