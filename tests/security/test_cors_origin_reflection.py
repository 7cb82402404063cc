"""Attack: CORS origin reflection. A server that echoes any ``Origin`` back in
``Access-Control-Allow-Origin`` (worse, with ``Access-Control-Allow-Credentials: true``) lets
any site read its answers from a visitor's browser. Ostiary allows only the origins listed in
``OSTIARY_CORS_ORIGINS``, matched exactly; ``*`` is refused; anything else gets no CORS header."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import httpx
import pytest
from pydantic import ValidationError

from ostiary.server.cors import ALLOWED_METHODS
from ostiary.settings import Settings
from tests.http._server import BAD_LOGIN, Server, running, settings_for

APP: Final = "https://app.example.com"
FOREIGN: Final = (
    "https://evil.example",
    "https://app.example.com.evil.example",  # a suffix match would let this in
    "https://evilapp.example.com",
    "http://app.example.com",  # another scheme is another origin
    "https://app.example.com:8443",  # and so is another port
    "https://APP.example.com",
    "null",  # sandboxed iframes and file: pages
    "https://app.example.com/",
)


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def preflight(
    server: Server, origin: str, *, method: str = "POST", headers: str = "content-type"
) -> httpx.Response:
    return await server.client.options(
        "/auth/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(settings_for(tmp_path, cors_origins=[APP])) as srv:
        yield srv


async def test_a_listed_origin_is_allowed_exactly(server: Server) -> None:
    response = await server.client.get("/.well-known/jwks.json", headers={"Origin": APP})
    assert response.status_code == 200
    assert cors_headers(response) == {
        "access-control-allow-origin": APP,
        "access-control-expose-headers": "WWW-Authenticate, DPoP-Nonce",
    }
    assert "Origin" in response.headers["vary"]


async def test_a_listed_origin_may_read_errors_too(server: Server) -> None:
    response = await server.client.post(
        "/auth/login", json={"username": "x", "password": "y" * 12}, headers={"Origin": APP}
    )
    assert (response.status_code, response.json()) == (401, BAD_LOGIN)
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("origin", FOREIGN)
async def test_a_foreign_origin_is_never_reflected(server: Server, origin: str) -> None:
    simple = await server.client.get("/.well-known/jwks.json", headers={"Origin": origin})
    assert simple.status_code == 200
    assert cors_headers(simple) == {}
    assert "Origin" in simple.headers["vary"]  # a cache must not serve one origin's answer
    refused = await preflight(server, origin)
    assert cors_headers(refused) == {}
    assert refused.status_code == 405


async def test_a_preflight_of_a_listed_origin_is_answered(server: Server) -> None:
    response = await preflight(server, APP, headers="Content-Type, Authorization, DPoP")
    assert response.status_code == 204
    assert response.content == b""
    allowed = cors_headers(response)
    assert allowed["access-control-allow-origin"] == APP
    assert allowed["access-control-allow-methods"] == ", ".join(ALLOWED_METHODS)
    assert {"authorization", "content-type", "dpop"} <= set(
        allowed["access-control-allow-headers"].split(", ")
    )
    assert allowed["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in allowed  # off unless configured
    assert response.headers["vary"] == "Origin"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "headers"),
    [("PUT", "content-type"), ("PATCH", ""), ("POST", "x-evil"), ("GET", "cookie")],
)
async def test_a_preflight_for_anything_else_is_refused(
    server: Server, method: str, headers: str
) -> None:
    response = await preflight(server, APP, method=method, headers=headers)
    assert cors_headers(response) == {}


async def test_credentials_only_for_listed_origins_when_enabled(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, cors_origins=[APP], cors_allow_credentials=True)
    async with running(settings) as srv:
        listed = await srv.client.get("/healthz", headers={"Origin": APP})
        foreign = await srv.client.get("/healthz", headers={"Origin": "https://evil.example"})
        listed_preflight = await preflight(srv, APP)
    assert listed.headers["access-control-allow-origin"] == APP  # never "*" with credentials
    assert listed.headers["access-control-allow-credentials"] == "true"
    assert listed_preflight.headers["access-control-allow-credentials"] == "true"
    assert cors_headers(foreign) == {}


@pytest.mark.parametrize("credentials", [False, True])
@pytest.mark.parametrize(
    "origins",
    [["*"], [APP, "*"], ["null"], ["https://app.example.com/"], ["app.example.com"]],
)
def test_wildcards_and_non_origins_are_refused_at_start(
    tmp_path: Path, origins: list[str], credentials: bool
) -> None:
    with pytest.raises(ValidationError, match="cors_origins"):
        settings_for(tmp_path, cors_origins=origins, cors_allow_credentials=credentials)


def test_the_origins_come_from_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSTIARY_CORS_ORIGINS", f'["{APP}", "http://localhost:3000"]')
    assert Settings().cors_origins == [APP, "http://localhost:3000"]
    monkeypatch.setenv("OSTIARY_CORS_ORIGINS", '["*"]')
    with pytest.raises(ValidationError, match="'\\*' is not allowed"):
        Settings()
