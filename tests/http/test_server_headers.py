"""The security headers every answer carries, whichever layer wrote it: ``nosniff``,
``no-referrer``, HSTS over HTTPS only, a strict CSP on HTML without one of its own, ``no-store``
on the auth endpoints (errors included), no banner header, and no CORS unless configured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import httpx
import pytest
from fastapi.responses import HTMLResponse, JSONResponse

from ostiary.keys import MasterKey
from ostiary.server.headers import DOCS_CSP, HSTS, STRICT_CSP

from ._oauth import Pkce, authorize_query, oauth_server, web_client
from ._server import Server, running, settings_for

Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
JSON: Final = {"Content-Type": "application/json"}
BANNERS: Final = ("server", "x-powered-by")

#: One answer from each layer: a route, a public document, routing's 404 and 405, validation,
#: a bearer refusal, an OAuth error, the stylesheet and the body cap's 413.
ANSWERS: Final[dict[str, Request]] = {
    "healthz": lambda c: c.get("/healthz"),
    "jwks": lambda c: c.get("/.well-known/jwks.json"),
    "discovery": lambda c: c.get("/.well-known/openid-configuration"),
    "404": lambda c: c.get("/no/such/path"),
    "405": lambda c: c.put("/healthz"),
    "bad login": lambda c: c.post("/auth/login", json={"username": "x", "password": "y" * 12}),
    "not json": lambda c: c.post("/auth/login", content=b"{", headers=JSON),
    "no bearer": lambda c: c.get("/auth/me"),
    "token error": lambda c: c.post("/oauth/token", data={"grant_type": "password"}),
    "stylesheet": lambda c: c.get("/static/ostiary.css"),
    "413": lambda c: c.post("/auth/login", content=b"x" * 70_000, headers=JSON),
}


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
async def test_every_answer_has_nosniff_and_no_referrer(server: Server, answer: Request) -> None:
    response = await answer(server.client)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers  # plain HTTP
    for banner in BANNERS:
        assert banner not in response.headers


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
async def test_hsts_on_every_https_answer(server: Server, answer: Request) -> None:
    server.client.base_url = httpx.URL("https://localhost")  # the ASGI scope's scheme
    response = await answer(server.client)
    assert response.headers["strict-transport-security"] == HSTS


NO_STORE_ANSWERS: Final[dict[str, Request]] = {
    "login refused": lambda c: c.post("/auth/login", json={"username": "x", "password": "y"}),
    "login not json": lambda c: c.post("/auth/login", content=b"{", headers=JSON),
    "refresh refused": lambda c: c.post("/auth/refresh", json={"refresh_token": "nope"}),
    "me without token": lambda c: c.get("/auth/me"),
    "sessions without token": lambda c: c.get("/auth/sessions"),
    "unknown auth path": lambda c: c.get("/auth/nothing-here"),
    "token error": lambda c: c.post("/oauth/token", data={"grant_type": "nope"}),
    "revoke unauthenticated": lambda c: c.post("/oauth/revoke", data={"token": "x"}),
    "introspect unauthenticated": lambda c: c.post("/oauth/introspect", data={"token": "x"}),
    "userinfo without token": lambda c: c.get("/oauth/userinfo"),
    "413 on login": lambda c: c.post("/auth/login", content=b"x" * 70_000, headers=JSON),
}


@pytest.mark.parametrize("answer", NO_STORE_ANSWERS.values(), ids=NO_STORE_ANSWERS.keys())
async def test_auth_answers_are_never_stored_errors_included(
    server: Server, answer: Request
) -> None:
    response = await answer(server.client)
    assert response.status_code >= 400
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_a_successful_login_is_not_stored_and_public_documents_stay_cacheable(
    server: Server,
) -> None:
    await server.login()
    login = await server.client.post(
        "/auth/login", json={"username": "alice", "password": "correct horse battery"}
    )
    assert login.headers["cache-control"] == "no-store"
    jwks = await server.client.get("/.well-known/jwks.json")
    assert jwks.headers["cache-control"].startswith("public, max-age=")


async def test_html_without_a_policy_gets_the_strict_one(server: Server) -> None:
    server.app.add_api_route("/test/html", lambda: HTMLResponse("<p>hello</p>"))
    response = await server.client.get("/test/html")
    assert response.headers["content-security-policy"] == STRICT_CSP
    assert "frame-ancestors 'none'" in STRICT_CSP
    assert response.headers["x-frame-options"] == "DENY"


async def test_json_gets_no_csp(server: Server) -> None:
    response = await server.client.get("/healthz")
    assert "content-security-policy" not in response.headers


async def test_the_login_page_keeps_its_own_policy(tmp_path: Path) -> None:
    async with oauth_server(tmp_path) as srv:
        await web_client(srv)
        page = await srv.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert policy != STRICT_CSP
    assert "form-action 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers.get_list("content-security-policy") == [policy]  # one, not two


async def test_the_dev_mode_api_docs_get_a_policy_that_still_forbids_framing(
    server: Server,
) -> None:
    response = await server.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == DOCS_CSP
    assert response.headers["x-frame-options"] == "DENY"


async def test_banner_headers_set_by_a_route_are_removed(server: Server) -> None:
    def bragging() -> JSONResponse:
        return JSONResponse({}, headers={"Server": "uvicorn/0.1", "X-Powered-By": "FastAPI"})

    server.app.add_api_route("/test/brag", bragging)
    response = await server.client.get("/test/brag")
    assert response.status_code == 200
    for banner in BANNERS:
        assert banner not in response.headers


async def test_no_cors_headers_unless_origins_are_configured(server: Server) -> None:
    origin = {"Origin": "https://app.example.com"}
    simple = await server.client.get("/healthz", headers=origin)
    preflight = await server.client.options(
        "/auth/login", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    for response in (simple, preflight):
        assert not [name for name in response.headers if name.startswith("access-control-")]
    assert preflight.status_code == 405


async def test_outside_dev_mode_the_sso_cookies_are_secure_even_on_loopback(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, dev=False, master_key=MasterKey.new_text())
    assert settings.issuer.startswith("http://127.0.0.1")
    async with running(settings) as srv:
        assert srv.services.oauth.cookies.secure
    async with running(settings_for(tmp_path)) as dev:
        assert not dev.services.oauth.cookies.secure  # dev mode on a loopback issuer
