"""The resource service of the propagation bench:
``python -m benchmarks._resource --port N --issuer URL --client-id ID``.

A FastAPI app built as docs/resource.md shows: a ``TokenVerifier`` fetching the auth server's
JWKS, ``install(app, verifier, public_paths={"/healthz"}, revocations=RevocationStream(...))``
following ``GET /auth/revocations/stream`` with the client's own client-credentials token
(its secret in ``OSTIARY_BENCH_SERVICE_SECRET``, not on the command line). ``GET /orders``
wants a valid token; ``GET /healthz`` answers the stream's state. Served by uvicorn, one
worker, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Final

from fastapi import FastAPI

from benchmarks._common import serve_one_worker
from ostiary.resource import ClientCredentialsAuth, RevocationStream, TokenVerifier
from ostiary.resource.fastapi import CurrentClaims, install

PATH: Final = "/orders"
HEALTH_PATH: Final = "/healthz"
SECRET_ENV: Final = "OSTIARY_BENCH_SERVICE_SECRET"


def build_app(issuer: str, audience: str, client_id: str, secret: str) -> FastAPI:
    verifier = TokenVerifier(
        issuer=issuer, audience=audience, jwks_url=f"{issuer}/.well-known/jwks.json"
    )
    auth = ClientCredentialsAuth(
        f"{issuer}/oauth/token",
        client_id,
        secret,
        scope="revocations:read",
        resource=f"{issuer}/auth/revocations",
    )
    revocations = RevocationStream(f"{issuer}/auth/revocations/stream", verifier, auth=auth)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    install(app, verifier, public_paths={HEALTH_PATH}, revocations=revocations)

    @app.get(HEALTH_PATH)
    async def health() -> dict[str, Any]:
        return revocations.state.as_dict()

    @app.get(PATH)
    async def orders(claims: CurrentClaims) -> dict[str, str]:
        return {"user": claims.sub}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", default="api")
    parser.add_argument("--client-id", required=True)
    args = parser.parse_args()
    app = build_app(args.issuer, args.audience, args.client_id, os.environ[SECRET_ENV])
    serve_one_worker(app, args.port, lifespan="on")


if __name__ == "__main__":
    main()
