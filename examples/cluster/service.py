"""The resource service: an API that verifies Ostiary's access tokens on its own and follows
the auth server's revocation stream, as docs/resource.md shows.

``GET /orders`` wants a valid token of the audience ``SERVICE_AUDIENCE`` (``api``, the
server's default ``OSTIARY_AUDIENCE``); ``GET /healthz`` (public) answers the stream's state.
Every URL goes through the proxy (``ISSUER``): the JWKS, the token endpoint and the stream,
which any instance may serve. The stream wants the service's own token, got with the client
credentials grant as ``SERVICE_CLIENT_ID`` / ``SERVICE_CLIENT_SECRET`` (a client registered
with the scope ``revocations:read`` for the audience ``<issuer>/auth/revocations``).

Run it with ``uvicorn --factory examples.cluster.service:create_app``.
"""

from __future__ import annotations

import os
from typing import Any, Final

from fastapi import FastAPI

from ostiary.resource import ClientCredentialsAuth, RevocationStream, TokenVerifier
from ostiary.resource.fastapi import CurrentClaims, install

ORDERS_PATH: Final = "/orders"
HEALTH_PATH: Final = "/healthz"


def create_app() -> FastAPI:
    """The app, configured from the environment (see the module's docstring)."""
    issuer = os.environ["ISSUER"].rstrip("/")
    verifier = TokenVerifier(
        issuer=issuer,
        audience=os.environ.get("SERVICE_AUDIENCE", "api"),
        jwks_url=f"{issuer}/.well-known/jwks.json",
    )
    service_token = ClientCredentialsAuth(
        f"{issuer}/oauth/token",
        os.environ["SERVICE_CLIENT_ID"],
        os.environ["SERVICE_CLIENT_SECRET"],
        scope="revocations:read",
        resource=f"{issuer}/auth/revocations",
    )
    revocations = RevocationStream(
        f"{issuer}/auth/revocations/stream", verifier, auth=service_token
    )
    app = FastAPI(title="orders", docs_url=None, redoc_url=None, openapi_url=None)
    install(app, verifier, realm="orders", public_paths={HEALTH_PATH}, revocations=revocations)

    @app.get(HEALTH_PATH)
    async def healthz() -> dict[str, Any]:
        return revocations.state.as_dict()

    @app.get(ORDERS_PATH)
    async def orders(claims: CurrentClaims) -> dict[str, Any]:
        return {"user": claims.sub, "session": claims.sid, "orders": ["1", "2"]}

    return app
