"""The server process of the HTTP bench: ``python -m benchmarks._server --port N [--jwks F]``.

A FastAPI app with one small JSON route, served by uvicorn with one worker (uvloop, httptools,
no access log) on 127.0.0.1. With ``--jwks`` the app is protected by
``ostiary.resource.fastapi.install(app, verifier)``, i.e. ``BearerAuthMiddleware`` in front of
every route, with a ``TokenVerifier`` holding the keys of that JWKS file (default cache size);
``--public-url`` is passed to ``install`` (the URL DPoP proofs name, RFC 9449 §4.3 step 9).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Final

from fastapi import FastAPI

from benchmarks._common import serve_one_worker
from benchmarks.tokens import AUDIENCE, ISSUER

PATH: Final = "/orders/summary"


def build_app(jwks_file: Path | None, public_url: str | None = None) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(PATH)
    async def summary() -> dict[str, object]:
        return {"open": 3, "status": "ok"}

    if jwks_file is not None:
        from ostiary.resource import TokenVerifier
        from ostiary.resource.fastapi import install

        verifier = TokenVerifier(
            issuer=ISSUER, audience=AUDIENCE, keys=json.loads(jwks_file.read_text())
        )
        install(app, verifier, public_url=public_url)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, help="run on this CPU only")
    parser.add_argument("--jwks", type=Path, help="protect the app with the keys of this JWKS")
    parser.add_argument("--public-url", help="with --jwks: the URL DPoP proofs name")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    serve_one_worker(build_app(args.jwks, args.public_url), args.port, lifespan="off")


if __name__ == "__main__":
    main()
