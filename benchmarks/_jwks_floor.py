"""The floor of the JWKS GET: ``python -m benchmarks._jwks_floor --port N --jwks FILE``.

A bare Starlette app with one route, ``GET /.well-known/jwks.json``, answering the bytes of
``FILE`` (Ostiary's own JWKS document, fetched by :mod:`benchmarks.peers`) with the media type
and ``Cache-Control`` Ostiary sends; no middleware. Served like the other bench servers: one
uvicorn worker, uvloop, httptools, no access log.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks._common import serve_one_worker

PATH: Final = "/.well-known/jwks.json"
MEDIA_TYPE: Final = "application/jwk-set+json"


def build_app(document: bytes) -> Starlette:
    async def jwks(request: Request) -> Response:
        return Response(
            document, media_type=MEDIA_TYPE, headers={"Cache-Control": "public, max-age=300"}
        )

    return Starlette(routes=[Route(PATH, jwks)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--jwks", type=Path, required=True, help="the JWKS document to serve")
    parser.add_argument("--cpu", type=int, help="run on this CPU only")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    serve_one_worker(build_app(args.jwks.read_bytes()), args.port, lifespan="off")


if __name__ == "__main__":
    main()
