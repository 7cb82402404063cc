"""Attack: the authorization endpoint as an open redirector (RFC 6749 §10.15, RFC 9700
§4.1 and §4.11). A redirect URI is compared with the registered ones exactly, character for
character; anything else, however close, gets an error page and never a redirect, even when
the request has other errors too. Only once the client and its redirect URI are trusted do
errors go back to it, with ``state`` and ``iss``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.http._oauth import (
    ISSUER,
    Pkce,
    authorize_query,
    oauth_server,
    redirect_query,
    submit,
    web_client,
)
from tests.http._server import PASSWORD, Server

REGISTERED = "https://app.example.com/cb"
NOT_REGISTERED = "The return address is not registered for this application."
NOT_A_CLIENT = "The application that sent you here is not registered."


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        await web_client(srv, redirect_uris=(REGISTERED, "http://127.0.0.1:8765/cb"))
        yield srv


def assert_error_page(response: httpx.Response, message: str) -> None:
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert message in response.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/cb",
        "https://app.example.com/cb/",  # trailing slash
        "https://app.example.com/cb/extra",  # extra path
        "https://app.example.com/cbx",  # prefix match
        "https://app.example.com/c",
        "https://app.example.com/cb?next=https://evil.example",
        "https://app.example.com/cb#frag",  # fragment
        "https://app.example.com:8443/cb",  # different port
        "https://app.example.com:443/cb",  # the same origin, spelled differently
        "http://app.example.com/cb",  # http vs https
        "https://APP.example.com/cb",
        "https://app.example.com.evil.example/cb",
        "https://app.example.com@evil.example/cb",
        "https://evil.example/https://app.example.com/cb",
        "//evil.example/cb",
        "https://app.example.com/cb/../cb",
        "https://app.example.com/%63b",
        " https://app.example.com/cb",
        "https://app.example.com/cb\n",
        "http://127.0.0.1:8766/cb",  # another loopback port: exact here too
        "http://localhost:8765/cb",
        "",
    ],
)
async def test_an_unregistered_redirect_uri_gets_an_error_page(
    server: Server, redirect_uri: str
) -> None:
    query = authorize_query("web", Pkce.new(), redirect_uri=redirect_uri)
    response = await server.client.get("/oauth/authorize", params=query)
    assert_error_page(response, NOT_REGISTERED)
    assert "evil" not in response.text


@pytest.mark.parametrize(
    "change",
    [
        {"response_type": "token"},
        {"scope": "admin"},
        {"code_challenge_method": "plain"},
        {"prompt": "none"},
    ],
    ids=["implicit", "bad scope", "plain pkce", "prompt none"],
)
async def test_other_errors_never_redirect_to_an_unregistered_uri(
    server: Server, change: dict[str, str]
) -> None:
    query = authorize_query("web", Pkce.new(), redirect_uri="https://evil.example/cb", **change)
    response = await server.client.get("/oauth/authorize", params=query)
    assert_error_page(response, NOT_REGISTERED)


async def test_an_unknown_client_never_redirects(server: Server) -> None:
    query = authorize_query("nobody", Pkce.new(), redirect_uri="https://evil.example/cb")
    response = await server.client.get("/oauth/authorize", params=query)
    assert_error_page(response, NOT_A_CLIENT)


async def test_an_unregistered_redirect_in_the_form_post_never_redirects(server: Server) -> None:
    # The authorization parameters travel in hidden fields: a POST is checked again.
    query = authorize_query("web", Pkce.new(), redirect_uri=REGISTERED)
    page = await server.client.get("/oauth/authorize", params=query)
    changes = {"redirect_uri": "https://evil.example/cb", "username": "alice", "password": PASSWORD}
    response = await submit(server.client, page, changes)
    assert_error_page(response, NOT_REGISTERED)


async def test_errors_after_the_redirect_is_trusted_do_redirect(server: Server) -> None:
    query = authorize_query("web", Pkce.new(), redirect_uri=REGISTERED, scope="admin")
    response = await server.client.get("/oauth/authorize", params=query)
    assert redirect_query(response, REGISTERED) == {
        "error": "invalid_scope",
        "error_description": "The client may not ask for the scope 'admin'.",
        "state": "st-web",
        "iss": ISSUER,
    }
