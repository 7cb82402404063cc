"""Attack: login CSRF and cross-site consent (RFC 6749 §10.12, OWASP "Login CSRF"). A page on
another site posts the login form with the attacker's credentials, so that the victim works
signed in as the attacker, or posts ``decision=allow`` to the consent form in the victim's
session. Every POST to ``/oauth/authorize`` needs the CSRF token bound to the browser's cookie
and, when the browser names one, this server's own origin: otherwise 403, no session, no
code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.http._oauth import (
    CSRF_COOKIE,
    ISSUER,
    SSO_COOKIE,
    Pkce,
    another_browser,
    authorize_query,
    form_fields,
    is_consent_page,
    oauth_server,
    redirect_query,
    sign_in,
    submit,
    web_client,
)
from tests.http._server import PASSWORD, Server

EXPIRED = "This form expired or did not come from this page. Go back and retry."
CREDENTIALS = {"username": "alice", "password": PASSWORD}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        await web_client(srv)
        yield srv


async def login_page(server: Server) -> httpx.Response:
    page = await server.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert page.status_code == 200
    return page


async def assert_refused_without_a_session(server: Server, response: httpx.Response) -> None:
    assert response.status_code == 403
    assert EXPIRED in response.text
    assert "location" not in response.headers
    assert SSO_COOKIE not in response.cookies
    query = authorize_query("web", Pkce.new(), prompt="none")
    probe = await server.client.get("/oauth/authorize", params=query)
    assert redirect_query(probe)["error"] == "login_required"


@pytest.mark.parametrize(
    ("changes", "headers"),
    [
        ({"csrf_token": ""}, {"Origin": ISSUER}),
        ({"csrf_token": "forged-token"}, {"Origin": ISSUER}),
        ({}, {"Origin": "https://evil.example"}),
        ({}, {"Origin": "http://testserver.evil.example"}),
        ({}, {"Origin": "https://testserver"}),
        ({}, {"Sec-Fetch-Site": "cross-site"}),
        ({}, {"Sec-Fetch-Site": "same-site"}),
        ({}, {"Origin": "null", "Sec-Fetch-Site": "cross-site"}),
    ],
    ids=[
        "no token",
        "wrong token",
        "foreign origin",
        "look-alike origin",
        "other scheme",
        "cross-site fetch",
        "sibling subdomain",
        "sandboxed frame",
    ],
)
async def test_a_cross_site_login_post_is_refused(
    server: Server, changes: dict[str, str], headers: dict[str, str]
) -> None:
    page = await login_page(server)
    response = await submit(server.client, page, {**CREDENTIALS, **changes}, headers=headers)
    await assert_refused_without_a_session(server, response)


async def test_the_token_of_another_browser_is_refused(server: Server) -> None:
    # The attacker's own valid pair: its token does not match the victim's cookie.
    await login_page(server)  # the victim has a CSRF cookie of its own
    async with another_browser(server) as attacker:
        theirs = await attacker.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert form_fields(theirs)["csrf_token"]
    response = await submit(server.client, theirs, CREDENTIALS)
    await assert_refused_without_a_session(server, response)


async def test_without_the_cookie_the_token_is_refused(server: Server) -> None:
    page = await login_page(server)
    server.client.cookies.delete(CSRF_COOKIE)
    response = await submit(server.client, page, CREDENTIALS)
    await assert_refused_without_a_session(server, response)


async def test_a_cross_site_consent_post_is_refused(server: Server) -> None:
    consent = await sign_in(server, authorize_query("web", Pkce.new()))
    assert is_consent_page(consent)
    response = await submit(
        server.client, consent, {"decision": "allow"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "location" not in response.headers
    # Nothing was consented to: the next request still asks.
    again = await server.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert is_consent_page(again)


async def test_control_same_origin_with_the_token(server: Server) -> None:
    page = await login_page(server)
    response = await submit(server.client, page, CREDENTIALS)
    assert is_consent_page(response)
    assert response.cookies.get(SSO_COOKIE)


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin"}])
async def test_control_a_browser_that_names_no_origin(
    server: Server, headers: dict[str, str]
) -> None:
    # Older browsers send neither header; the CSRF token alone protects them.
    page = await login_page(server)
    response = await submit(server.client, page, CREDENTIALS, headers=headers)
    assert is_consent_page(response)
