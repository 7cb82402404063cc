"""Checks that a verified token grants what a route needs; shared by the FastAPI and Flask
integrations. RFC 6750 §3.1: a missing scope is ``insufficient_scope`` (403) naming it."""

from __future__ import annotations

from collections.abc import Sequence

from ostiary.access_claims import AccessClaims
from ostiary.authz.scopes import missing
from ostiary.errors import InsufficientScope


def check_scopes(claims: AccessClaims, required: Sequence[str]) -> None:
    lacking = missing(required, claims.scopes)
    if lacking:
        raise InsufficientScope(scope=" ".join(required), detail=f"lacks {' '.join(lacking)}")


def check_roles(claims: AccessClaims, required: Sequence[str]) -> None:
    """Every role in ``required`` must be in the token's ``roles``. The challenge names no
    scope (roles are not scopes), only the error."""
    lacking = missing(required, claims.roles)
    if lacking:
        raise InsufficientScope(
            "The token does not carry a role this resource requires.",
            detail=f"lacks role {' '.join(lacking)}",
        )
