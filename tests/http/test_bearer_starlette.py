"""The pure ASGI BearerAuthMiddleware under plain Starlette (no FastAPI), black-box."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ostiary.clock import FrozenClock
from ostiary.resource import AccessClaims, BearerAuthMiddleware, TokenVerifier
from ostiary.resource.middleware import STATE_KEY
from tests.unit.resource._tokens import mint

from . import _expect as x
from ._bearer import KEY


async def me(request: Request) -> JSONResponse:
    claims = request.auth
    assert isinstance(claims, AccessClaims)
    assert getattr(request.state, STATE_KEY) is claims
    return JSONResponse(
        {"type": type(claims).__name__, "sub": claims.sub, "scopes": sorted(claims.scopes)}
    )


async def health(request: Request) -> JSONResponse:
    claims = request.scope.get("auth")
    return JSONResponse({"ok": True, "sub": claims.sub if claims else None})


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    claims = websocket.scope["auth"]
    await websocket.send_json({"sub": claims.sub})
    await websocket.close()


def build_app(verifier: TokenVerifier, *, realm: str = "api") -> Starlette:
    return Starlette(
        routes=[Route("/me", me), Route("/healthz", health), WebSocketRoute("/ws", echo)],
        middleware=[
            Middleware(
                BearerAuthMiddleware, verifier=verifier, realm=realm, public_paths={"/healthz"}
            )
        ],
    )


@pytest.fixture
async def client(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(verifier))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def assert_error(
    r: httpx.Response, status: int, error: str, description: str, *, secret: str | None = None
) -> None:
    assert r.status_code == status
    assert r.headers.get_list("www-authenticate") == [x.challenge(error, description)]
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-length"] == str(len(r.content))
    assert r.json() == x.body(error, description)
    if secret is not None:
        assert secret not in r.text
        assert all(secret not in v for v in r.headers.values())


async def test_request_auth_holds_the_claims(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    tok = mint(KEY, now=clock.now(), sub="alice", scope="a b")
    r = await client.get("/me", headers=bearer(tok))
    assert r.status_code == 200
    assert r.json() == {"type": "AccessClaims", "sub": "alice", "scopes": ["a", "b"]}


async def test_no_credentials(client: httpx.AsyncClient) -> None:
    r = await client.get("/me")
    assert r.status_code == 401
    assert r.headers.get_list("www-authenticate") == [x.NO_CREDENTIALS_CHALLENGE]
    assert r.headers["cache-control"] == "no-store"
    assert r.json() == x.NO_CREDENTIALS_BODY


async def test_realm_is_configurable(verifier: TokenVerifier) -> None:
    transport = httpx.ASGITransport(app=build_app(verifier, realm='orders "v2"'))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/me")
    assert r.headers["www-authenticate"] == (  # quotes dropped
        f'Bearer realm="orders v2", DPoP realm="orders v2", algs="{x.ALGS}"'
    )


async def test_invalid_token(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    expired = mint(KEY, now=clock.now() - 1000)
    assert_error(
        await client.get("/me", headers=bearer(expired)),
        401,
        "invalid_token",
        x.EXPIRED,
        secret=expired,
    )
    wrong_typ = mint(KEY, now=clock.now(), typ="JWT")
    assert_error(
        await client.get("/me", headers=bearer(wrong_typ)),
        401,
        "invalid_token",
        "The token is not of the expected type.",
        secret=wrong_typ,
    )


async def test_invalid_requests(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    tok = mint(KEY, now=clock.now())
    assert_error(
        await client.get("/me", headers={"Authorization": "Bearer a b"}),
        400,
        "invalid_request",
        x.MALFORMED_HEADER,
    )
    two = [("Authorization", f"Bearer {tok}"), ("Authorization", f"Bearer {tok}")]
    assert_error(
        await client.get("/me", headers=two), 400, "invalid_request", x.TWO_HEADERS, secret=tok
    )
    assert_error(
        await client.get("/me", params={"access_token": tok}),
        400,
        "invalid_request",
        x.QUERY_TOKEN,
        secret=tok,
    )


async def test_public_path(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"ok": True, "sub": None}
    r = await client.get("/healthz", headers=bearer(mint(KEY, now=clock.now(), sub="bob")))
    assert r.json() == {"ok": True, "sub": "bob"}
    r = await client.get("/me")
    assert r.status_code == 401


# --- WebSocket -------------------------------------------------------------------------------


async def websocket_session(app: Any, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    """Open ``/ws`` on ``app`` at the ASGI level and return what the app sent back."""
    inbox = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "server": ("testserver", 80),
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "subprotocols": [],
    }
    await app(scope, receive, send)
    return sent


async def test_websocket_without_a_token_is_refused(verifier: TokenVerifier) -> None:
    sent = await websocket_session(build_app(verifier), [])
    # Before accept, a close makes the server refuse the handshake (403 under uvicorn).
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_websocket_with_a_bad_token_is_refused(
    verifier: TokenVerifier, clock: FrozenClock
) -> None:
    expired = mint(KEY, now=clock.now() - 1000)
    sent = await websocket_session(
        build_app(verifier), [(b"authorization", f"Bearer {expired}".encode())]
    )
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_websocket_with_a_token_in_the_query_is_refused(
    verifier: TokenVerifier, clock: FrozenClock
) -> None:
    tok = mint(KEY, now=clock.now())
    called: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        called.append(scope["type"])  # pragma: no cover - must not be reached

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "websocket",
        "path": "/ws",
        "headers": [],
        "query_string": f"access_token={tok}".encode(),
    }
    await BearerAuthMiddleware(app, verifier=verifier)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert called == []


async def test_websocket_with_a_token_is_accepted(
    verifier: TokenVerifier, clock: FrozenClock
) -> None:
    tok = mint(KEY, now=clock.now(), sub="carol")
    sent = await websocket_session(
        build_app(verifier), [(b"authorization", f"Bearer {tok}".encode())]
    )
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == '{"sub":"carol"}'


async def test_websocket_refusal_never_calls_the_app(verifier: TokenVerifier) -> None:
    called: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        called.append(scope)  # pragma: no cover - must not be reached

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = BearerAuthMiddleware(app, verifier=verifier)
    scope: dict[str, Any] = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}
    await middleware(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert called == []


async def test_lifespan_passes_through(verifier: TokenVerifier) -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("the middleware must not answer a lifespan scope")

    await BearerAuthMiddleware(app, verifier=verifier)({"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"]
