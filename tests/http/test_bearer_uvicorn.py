"""End to end over real sockets: uvicorn on 127.0.0.1 serving a Starlette app behind
BearerAuthMiddleware, whose verifier fetches its keys from a real JWKS server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ostiary.clock import FrozenClock
from ostiary.keys import generate_key
from ostiary.resource import AccessClaims, BearerAuthMiddleware, JWKSPolicy, TokenVerifier
from tests._uvicorn import serve as serve_app
from tests.unit.resource._jwks_server import JWKSServer, running_jwks_server
from tests.unit.resource._tokens import AUDIENCE, ISSUER, T0, jwks_of, mint

from . import _expect as x

KEY = generate_key("ES256")


async def me(request: Request) -> JSONResponse:
    claims = request.auth
    assert isinstance(claims, AccessClaims)
    return JSONResponse({"sub": claims.sub})


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"sub": websocket.scope["auth"].sub})
    await websocket.close()


def build_app(verifier: TokenVerifier) -> Starlette:
    return Starlette(
        routes=[Route("/me", me), WebSocketRoute("/ws", echo)],
        middleware=[Middleware(BearerAuthMiddleware, verifier=verifier)],
    )


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``host:port`` of ``app`` under uvicorn (WebSockets on) in a thread on 127.0.0.1."""
    with serve_app(app, ws="websockets-sansio") as url:
        yield url.removeprefix("http://")


@pytest.fixture
def jwks() -> Iterator[JWKSServer]:
    with running_jwks_server() as server:
        server.document = jwks_of(KEY)
        yield server


@pytest.mark.slow
def test_real_uvicorn_server(jwks: JWKSServer) -> None:
    clock = FrozenClock(T0)
    verifier = TokenVerifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=jwks.url,
        jwks_policy=JWKSPolicy(timeout=2.0),
        clock=clock,
    )
    tok = mint(KEY, now=T0, sub="alice")
    with serve(build_app(verifier)) as host, httpx.Client(base_url=f"http://{host}") as http:
        r = http.get("/me", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 200
        assert r.json() == {"sub": "alice"}
        assert jwks.requests == 1

        r = http.get("/me")
        assert r.status_code == 401
        assert r.headers.get_list("www-authenticate") == [x.NO_CREDENTIALS_CHALLENGE]
        assert r.json() == x.NO_CREDENTIALS_BODY

        expired = mint(KEY, now=T0 - 1000)
        r = http.get("/me", headers={"Authorization": f"Bearer {expired}"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == x.challenge("invalid_token", x.EXPIRED)
        assert r.json() == x.body("invalid_token", x.EXPIRED)
        assert expired not in r.text

        r = http.get("/me", params={"access_token": tok})
        assert r.status_code == 400
        assert r.headers["www-authenticate"] == x.challenge("invalid_request", x.QUERY_TOKEN)
        assert tok not in r.text

        two = [("Authorization", f"Bearer {tok}"), ("Authorization", f"Bearer {tok}")]
        r = http.get("/me", headers=two)
        assert r.status_code == 400
        assert r.json() == x.body("invalid_request", x.TWO_HEADERS)

        # WebSocket: refused at the handshake without a token, served with one.
        with pytest.raises(InvalidStatus) as info, connect(f"ws://{host}/ws", open_timeout=5):
            pass  # pragma: no cover - the handshake is refused
        assert info.value.response.status_code == 403
        with connect(
            f"ws://{host}/ws",
            additional_headers={"Authorization": f"Bearer {tok}"},
            open_timeout=5,
        ) as ws:
            assert ws.recv(timeout=5) == '{"sub":"alice"}'
    assert jwks.requests == 1
