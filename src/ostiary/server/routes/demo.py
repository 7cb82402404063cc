"""The demo API of ``ostiary serve --demo``, mounted at ``/api``.

It is protected exactly as a separate service would protect itself: its own FastAPI app, its
own :class:`~ostiary.resource.TokenVerifier`, and :func:`ostiary.resource.fastapi.install`.
A separate service would give its verifier ``jwks_url=`` and feed it ``/auth/revocations``;
in-process, it reads the same live keys and revocation list as the server.

It takes DPoP-bound tokens (RFC 9449 §7.1, the toolkit's default) as well as bearer tokens;
the URL a proof must name is the issuer's plus the request's path, as at the server's own
endpoints, never one rebuilt from the ``Host`` header a client chooses (§4.3 step 9).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ostiary.resource import TokenVerifier
from ostiary.resource.fastapi import CurrentClaims, install, require_roles, require_scopes

REPORTS = (
    {"id": "rpt-1", "title": "Logins per day"},
    {"id": "rpt-2", "title": "Sessions revoked after refresh-token reuse"},
)


def demo_api(verifier: TokenVerifier) -> FastAPI:
    """``GET /profile`` (any valid token), ``/admin/stats`` (role ``admin``), ``/reports``
    (scope ``reports:read``)."""
    api = FastAPI(title="Ostiary demo API", docs_url=None, redoc_url=None, openapi_url=None)
    install(api, verifier, public_url=verifier.rules.issuer)
    served = {"profile": 0, "admin/stats": 0, "reports": 0}

    @api.get("/profile")
    async def profile(claims: CurrentClaims) -> dict[str, Any]:
        served["profile"] += 1
        return {
            "sub": claims.sub,
            "roles": sorted(claims.roles),
            "scope": " ".join(sorted(claims.scopes)),
            "client_id": claims.client_id,
            "session": claims.sid,
        }

    @api.get("/admin/stats", dependencies=[require_roles("admin")])
    async def admin_stats() -> dict[str, Any]:
        served["admin/stats"] += 1
        return {"requests_served": dict(served)}

    @api.get("/reports", dependencies=[require_scopes("reports:read")])
    async def reports() -> dict[str, Any]:
        served["reports"] += 1
        return {"reports": list(REPORTS)}

    return api
