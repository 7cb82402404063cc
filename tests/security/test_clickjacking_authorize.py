"""Attack: clickjacking the login, consent and logout pages (RFC 6749 §10.13). A site frames
the consent page invisibly and tricks the user into clicking "Allow". Every page the
authorization server renders forbids framing twice: CSP ``frame-ancestors 'none'`` for current
browsers and ``X-Frame-Options: DENY`` for old ones; none is cached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.http._oauth import Pkce, authorize_query, oauth_server, sign_in, submit, web_client
from tests.http._server import Server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        await web_client(srv)
        yield srv


async def login(server: Server) -> httpx.Response:
    return await server.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))


async def failed_login(server: Server) -> httpx.Response:
    return await sign_in(server, authorize_query("web", Pkce.new()), password="wrong password")


async def consent(server: Server) -> httpx.Response:
    return await sign_in(server, authorize_query("web", Pkce.new()))


async def error_page(server: Server) -> httpx.Response:
    return await server.client.get("/oauth/authorize", params={"client_id": "nobody"})


async def csrf_refusal(server: Server) -> httpx.Response:
    return await server.client.post("/oauth/authorize", data={"step": "login"})


async def logout_question(server: Server) -> httpx.Response:
    await consent(server)  # signed in: a session to end, so the logout asks first
    question = await server.client.get("/oauth/logout")
    assert "<form" in question.text
    return question


async def logged_out(server: Server) -> httpx.Response:
    return await submit(server.client, await logout_question(server), {"decision": "allow"})


PAGES = [login, failed_login, consent, error_page, csrf_refusal, logout_question, logged_out]


@pytest.mark.parametrize("page", PAGES, ids=[p.__name__ for p in PAGES])
async def test_no_page_may_be_framed(
    server: Server, page: Callable[[Server], Awaitable[httpx.Response]]
) -> None:
    response = await page(server)
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    directives = [d.strip() for d in response.headers["content-security-policy"].split(";")]
    assert "frame-ancestors 'none'" in directives
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
