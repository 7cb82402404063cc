"""The hot paths (``GET /.well-known/jwks.json``, ``POST /oauth/token``, answered in front of the
middleware stack by ostiary.server.hot_paths) answer every request exactly as the stack does:
the same status, headers and body, the same access-log line, the same metrics, the same rate
limiting, caps and error bodies. Each request is sent twice, once to the app as served and
once to the stack behind the hot paths, and the answers compared; the requests the hot paths
leave alone get the stack's answers."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from fastapi import FastAPI

from ostiary.clock import FrozenClock
from ostiary.server import create_app
from ostiary.server.access_log import AccessLog
from ostiary.server.app import OstiaryApp
from ostiary.server.hot_paths import HotPaths
from ostiary.server.metrics import Metrics
from ostiary.server.middleware import Receive, Scope, Send
from ostiary.settings import Settings
from ostiary.storage.memory import MemoryClientStore, MemoryStorage
from ostiary.storage.protocols import StorageError
from ostiary.storage.records import Client

from ._oauth import basic, oauth_settings, service_client
from ._server import CLIENT_ADDRESS, Server, bearer, settings_for

JWKS: Final = "/.well-known/jwks.json"
TOKEN: Final = "/oauth/token"
FORM: Final = {"Content-Type": "application/x-www-form-urlencoded"}
GRANT: Final = {"grant_type": "client_credentials", "scope": "inventory:read"}
#: What differs between two answers that are the same: nothing but a fresh token's length.
FRESH: Final = frozenset({"content-length"})
METRICS_TOKEN: Final = "metrics-token-0123456789"


class Stack:
    """The app's middleware stack without the hot paths in front: what they must match."""

    def __init__(self, app: FastAPI) -> None:
        assert isinstance(app, OstiaryApp)
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.app.middleware_stack
        assert isinstance(hot, HotPaths)
        scope["app"] = self.app  # what Starlette sets before its middleware stack
        await hot.app(scope, receive, send)


class Twins:
    """One client of the app as served (``hot``), one of its stack alone (``stack``)."""

    def __init__(self, server: Server, log: io.StringIO, access_log: AccessLog) -> None:
        self.server = server
        self.hot = server.client
        self.log = log
        self.access_log = access_log
        transport = httpx.ASGITransport(
            app=Stack(server.app), client=(CLIENT_ADDRESS, 4321), raise_app_exceptions=False
        )
        self.stack = httpx.AsyncClient(transport=transport, base_url=str(self.hot.base_url))

    async def both(
        self, send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
    ) -> tuple[httpx.Response, httpx.Response]:
        return await send(self.hot), await send(self.stack)

    def lines(self) -> list[dict[str, Any]]:
        self.access_log.flush()
        self.access_log.close()
        return [json.loads(line) for line in self.log.getvalue().splitlines()]


@contextlib.asynccontextmanager
async def twins(
    settings: Settings, *, storage: MemoryStorage | None = None
) -> AsyncIterator[Twins]:
    log = io.StringIO()
    access_log = AccessLog(log)
    app = create_app(
        settings, storage=storage, clock=FrozenClock(time.time()), access_log=access_log
    )
    assert isinstance(app, OstiaryApp)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(
            app=app, client=(CLIENT_ADDRESS, 4321), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            server = Server(app, client, settings, FrozenClock(time.time()))
            pair = Twins(server, log, access_log)
            async with pair.stack:
                yield pair


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Twins]:
    settings = oauth_settings(tmp_path, metrics_enabled=True, metrics_token=METRICS_TOKEN)
    async with twins(settings) as made:
        yield made


async def get(path: str, headers: dict[str, str], client: httpx.AsyncClient) -> httpx.Response:
    return await client.get(path, headers=headers)


async def request(method: str, path: str, client: httpx.AsyncClient) -> httpx.Response:
    return await client.request(method, path)


def headers_of(response: httpx.Response, *, leave_out: frozenset[str] = frozenset()) -> list[Any]:
    return sorted((k, v) for k, v in response.headers.multi_items() if k not in leave_out)


def assert_same(hot: httpx.Response, stack: httpx.Response) -> None:
    assert hot.status_code == stack.status_code
    assert headers_of(hot) == headers_of(stack)
    assert hot.content == stack.content


# --- the JWKS -----------------------------------------------------------------------------


async def test_the_jwks_is_the_stacks_byte_for_byte(pair: Twins) -> None:
    hot, stack = await pair.both(lambda c: c.get(JWKS))
    assert_same(hot, stack)
    assert hot.status_code == 200 and hot.json()["keys"]
    assert hot.headers["x-content-type-options"] == "nosniff"
    assert hot.headers["etag"] and hot.headers["cache-control"].startswith("public, max-age=")


async def test_the_jwks_304_is_the_stacks(pair: Twins) -> None:
    etag = (await pair.hot.get(JWKS)).headers["etag"]
    for tag in (etag, f"W/{etag}", '"other", ' + etag, "*"):
        hot, stack = await pair.both(functools.partial(get, JWKS, {"If-None-Match": tag}))
        assert_same(hot, stack)
        assert hot.status_code == 304 and hot.content == b""
    hot, stack = await pair.both(lambda c: c.get(JWKS, headers={"If-None-Match": '"stale"'}))
    assert_same(hot, stack)
    assert hot.status_code == 200


async def test_over_https_both_add_hsts(pair: Twins) -> None:
    pair.hot.base_url = pair.stack.base_url = httpx.URL("https://localhost")
    for send in (lambda c: c.get(JWKS), lambda c: c.post(TOKEN, data=GRANT)):
        hot, stack = await pair.both(send)
        assert_same(hot, stack)
        assert "strict-transport-security" in hot.headers


async def test_head_and_other_methods_and_paths_get_the_stacks_answers(pair: Twins) -> None:
    """What the hot paths leave to the stack: HEAD (Starlette answers it for GET routes),
    another method (405 with Allow), a suffix or a trailing slash (404, or the redirect to
    the path without it)."""
    get = await pair.hot.get(JWKS)
    head = await pair.hot.head(JWKS)
    assert head.status_code == 200
    assert headers_of(head) == headers_of(get)
    expected = {
        ("PUT", JWKS): 405,
        ("POST", JWKS): 405,
        ("GET", TOKEN): 405,
        ("GET", JWKS + "/x"): 404,
        ("GET", JWKS + "x"): 404,
        ("POST", TOKEN + "s"): 404,
        ("POST", TOKEN + "/"): 307,
    }
    for (method, path), status in expected.items():
        hot, stack = await pair.both(functools.partial(request, method, path))
        assert_same(hot, stack)
        assert hot.status_code == status, (method, path)
    assert (await pair.hot.put(JWKS)).headers["allow"] in {"GET, HEAD", "HEAD, GET"}


# --- the token endpoint ---------------------------------------------------------------------


async def test_a_token_answer_has_the_stacks_headers(pair: Twins) -> None:
    svc = await service_client(pair.server)
    hot, stack = await pair.both(lambda c: c.post(TOKEN, data=GRANT, auth=basic(svc)))
    assert hot.status_code == stack.status_code == 200
    assert headers_of(hot, leave_out=FRESH) == headers_of(stack, leave_out=FRESH)
    assert hot.headers["cache-control"] == "no-store" and hot.headers["pragma"] == "no-cache"
    assert hot.json().keys() == stack.json().keys()
    assert hot.json()["scope"] == stack.json()["scope"] == "inventory:read"


TOKEN_ERRORS: Final[dict[str, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]]] = {
    "no client": lambda c: c.post(TOKEN, data=GRANT),
    "wrong secret": lambda c: c.post(TOKEN, data=GRANT, auth=("svc", "wrong")),
    "unknown grant": lambda c: c.post(TOKEN, data={"grant_type": "password"}),
    "not a form": lambda c: c.post(TOKEN, json=GRANT),
    "repeated": lambda c: c.post(TOKEN, content=b"scope=a&scope=b", headers=FORM),
    "not utf-8": lambda c: c.post(TOKEN, content=b"grant_type=\xff", headers=FORM),
    "two authorizations": lambda c: c.post(
        TOKEN, data=GRANT, headers=[("Authorization", "Basic eDp5"), ("Authorization", "x")]
    ),
    "declared 413": lambda c: c.post(TOKEN, content=b"a" * 70_000, headers=FORM),
    "chunked 413": lambda c: c.post(TOKEN, content=_chunks(128 * 1024), headers=FORM),
    "431 bytes": lambda c: c.post(TOKEN, data=GRANT, headers={"X-Padding": "a" * 16_384}),
    "431 count": lambda c: c.post(TOKEN, data=GRANT, headers=[(f"x-{i}", "1") for i in range(101)]),
    "jwks 431": lambda c: c.get(JWKS, headers={"X-Padding": "a" * 16_384}),
    "jwks 413": lambda c: c.get(JWKS, headers={"Content-Length": "70000"}),
}


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b"a" * size


@pytest.mark.parametrize("send", TOKEN_ERRORS.values(), ids=TOKEN_ERRORS.keys())
async def test_errors_and_caps_are_the_stacks_byte_for_byte(
    pair: Twins, send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
) -> None:
    await service_client(pair.server)
    hot, stack = await pair.both(send)
    assert_same(hot, stack)
    assert hot.status_code >= 400
    assert hot.headers["x-content-type-options"] == "nosniff"


async def test_rate_limiting_holds_on_the_hot_path(tmp_path: Path) -> None:
    """The token endpoint's limit counts hot-path requests, and its 429 is the stack's."""
    limits = {"rate_limits_enabled": True, "token_rate_limit": "2/hour"}
    async with twins(oauth_settings(tmp_path, **limits)) as made:
        svc = await service_client(made.server)
        for _ in range(2):
            assert (await made.hot.post(TOKEN, data=GRANT, auth=basic(svc))).status_code == 200
        hot, stack = await made.both(lambda c: c.post(TOKEN, data=GRANT, auth=basic(svc)))
    assert_same(hot, stack)
    assert hot.status_code == 429 and int(hot.headers["retry-after"]) >= 1
    assert hot.json()["error"] == "rate_limited"


class FailingClients(MemoryClientStore):
    """Every lookup fails with ``exc``."""

    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    async def get(self, client_id: str) -> Client | None:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "status"), [(StorageError("db down"), 503), (RuntimeError("boom"), 500)]
)
async def test_failures_nobody_expected_are_the_stacks(
    tmp_path: Path, exc: Exception, status: int
) -> None:
    storage = MemoryStorage()
    storage.clients = FailingClients(exc)
    async with twins(oauth_settings(tmp_path), storage=storage) as made:
        hot, stack = await made.both(lambda c: c.post(TOKEN, data=GRANT, auth=("svc", "x")))
    assert_same(hot, stack)
    assert hot.status_code == status and "db down" not in hot.text and "boom" not in hot.text


async def test_before_the_lifespan_both_answer_500(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path), access_log=AccessLog(io.StringIO()))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        hot = await client.get(JWKS)
    stack_transport = httpx.ASGITransport(app=Stack(app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=stack_transport, base_url="http://localhost") as c:
        stack = await c.get(JWKS)
    assert_same(hot, stack)
    assert hot.status_code == 500


# --- the access log and the metrics --------------------------------------------------------


async def test_the_access_log_lines_are_the_stacks(pair: Twins) -> None:
    svc = await service_client(pair.server)
    sends: list[Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]] = [
        lambda c: c.get(JWKS + "?client_secret=x"),
        lambda c: c.post(TOKEN, data=GRANT, auth=basic(svc)),
        lambda c: c.post(TOKEN, data=GRANT),
        lambda c: c.post(TOKEN, content=b"a" * 70_000, headers=FORM),
    ]
    for send in sends:
        await pair.both(send)
    lines = pair.lines()
    assert len(lines) == 2 * len(sends)
    same = ("client", "method", "path", "http", "status")
    for hot, stack in zip(lines[::2], lines[1::2], strict=True):
        assert {k: hot[k] for k in same} == {k: stack[k] for k in same}
        assert hot.keys() == stack.keys()
    assert [line["status"] for line in lines[::2]] == [200, 200, 401, 413]
    assert lines[0]["path"] == JWKS + "?client_secret=REDACTED"
    assert lines[2]["bytes"] > 500 and lines[3]["bytes"] > 0  # a token; the error's body


async def test_the_metrics_count_hot_requests_under_their_routes(pair: Twins) -> None:
    svc = await service_client(pair.server)
    await pair.both(lambda c: c.get(JWKS))
    await pair.both(lambda c: c.post(TOKEN, data=GRANT, auth=basic(svc)))
    await pair.both(lambda c: c.post(TOKEN, data=GRANT))
    await pair.both(lambda c: c.get(JWKS, headers={"X-Padding": "a" * 16_384}))
    metrics = pair.server.app.state.metrics
    assert isinstance(metrics, Metrics)

    def count(route: str, method: str, status: str) -> float | None:
        labels = {"route": route, "method": method, "status": status}
        return metrics.registry.get_sample_value("ostiary_request_duration_seconds_count", labels)

    assert count(JWKS, "GET", "2xx") == 2
    assert count(TOKEN, "POST", "2xx") == 2
    assert count(TOKEN, "POST", "4xx") == 2
    assert count("unmatched", "GET", "4xx") == 2  # the 431: no route saw it
    issued = 'ostiary_tokens_issued_total{grant="client_credentials",kind="access"}'
    text = (await pair.hot.get("/metrics", headers=bearer(METRICS_TOKEN))).text
    assert any(line.startswith(issued + " 2.0") for line in text.splitlines())


# --- CORS --------------------------------------------------------------------------------


async def test_with_cors_the_answers_are_the_stacks_with_and_without_origin(
    tmp_path: Path,
) -> None:
    origin = "https://app.example"
    async with twins(settings_for(tmp_path, cors_origins=[origin])) as made:
        plain = await made.both(lambda c: c.get(JWKS))
        cross = await made.both(lambda c: c.get(JWKS, headers={"Origin": origin}))
        other = await made.both(lambda c: c.post(TOKEN, data=GRANT, headers={"Origin": "x"}))
    for hot, stack in (plain, cross, other):
        assert_same(hot, stack)
    assert plain[0].headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in plain[0].headers
    assert cross[0].headers["access-control-allow-origin"] == origin
    assert other[0].status_code == 401 and other[0].headers["vary"] == "Origin"


# --- when the stack answers everything ------------------------------------------------------


async def test_with_opentelemetry_the_stack_answers_everything(tmp_path: Path) -> None:
    """FastAPI's spans are named by the route its router picks: with OSTIARY_OPENTELEMETRY
    there are no hot paths in front of it."""
    app = create_app(settings_for(tmp_path, opentelemetry=True), access_log=None)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            assert (await c.get(JWKS)).status_code == 200
    assert not isinstance(app.middleware_stack, HotPaths)
    plain = create_app(settings_for(tmp_path))
    async with plain.router.lifespan_context(plain):
        transport = httpx.ASGITransport(app=plain)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            assert (await c.get(JWKS)).status_code == 200
    assert isinstance(plain.middleware_stack, HotPaths)
