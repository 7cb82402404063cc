"""Rate limits over HTTP: 429 with ``Retry-After`` and the error body of each endpoint family.

``limits`` keeps its windows on its own clock, so these tests use hour-long windows and count
requests; the login back-off runs on the server's clock, which they move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._oauth import (
    Pkce,
    authorize_query,
    form_fields,
    oauth_settings,
    sign_in,
    web_client,
)
from ._server import PASSWORD, Server, running, settings_for

RATE_LIMITED = {"error": "rate_limited", "error_description": "Too many requests; try again later."}
BACKED_OFF = {
    "error": "rate_limited",
    "error_description": "Too many failed sign-in attempts; try again later.",
}
LIMITS: dict[str, Any] = {
    "rate_limits_enabled": True,
    "login_rate_limit": "3/hour",
    "register_rate_limit": "1/hour",
    "refresh_address_rate_limit": "2/hour",
    "token_rate_limit": "2/hour",
    "login_backoff_after": 1000,
}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(settings_for(tmp_path, **LIMITS)) as srv:
        await srv.add_user("alice")
        yield srv


def assert_rate_limited(response: httpx.Response, body: dict[str, str] = RATE_LIMITED) -> int:
    assert response.status_code == 429, response.text
    assert response.json() == body
    assert response.headers["cache-control"] == "no-store"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 3600
    return retry_after


async def bad_login(server: Server, username: str = "alice") -> httpx.Response:
    return await server.client.post(
        "/auth/login", json={"username": username, "password": "wrong password!"}
    )


async def test_login_per_account_and_address(server: Server) -> None:
    for _ in range(3):
        assert (await bad_login(server)).status_code == 401
    assert_rate_limited(await bad_login(server))
    assert (await bad_login(server, "bob")).status_code == 401  # another account: its own


async def test_registration_per_address(server: Server) -> None:
    body = {"username": "carol", "password": PASSWORD}
    assert (await server.client.post("/auth/register", json=body)).status_code == 201
    other = {"username": "dave", "password": PASSWORD}
    assert_rate_limited(await server.client.post("/auth/register", json=other))


async def test_refresh_per_address(server: Server) -> None:
    tokens = await server.login()
    first = await server.refresh(tokens["refresh_token"])
    assert first.status_code == 200
    assert (await server.refresh(first.json()["refresh_token"])).status_code == 200
    assert_rate_limited(await server.refresh("any-token"))


async def test_token_endpoint_per_client_id(server: Server) -> None:
    form = {"grant_type": "client_credentials", "client_id": "svc", "client_secret": "x" * 40}
    for _ in range(2):
        assert (await server.client.post("/oauth/token", data=form)).status_code == 401
    assert_rate_limited(await server.client.post("/oauth/token", data=form))
    other = {**form, "client_id": "another"}
    assert (await server.client.post("/oauth/token", data=other)).status_code == 401


async def test_backoff_after_failures_then_time_heals(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, rate_limits_enabled=True, login_backoff_after=2, login_backoff_base_seconds=60
    )
    async with running(settings) as server:
        await server.add_user("alice")
        for _ in range(2):
            assert (await bad_login(server)).status_code == 401
        assert assert_rate_limited(await bad_login(server), BACKED_OFF) == 60
        # Refused before the password is checked: even the right one waits.
        right = await server.client.post(
            "/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert_rate_limited(right, BACKED_OFF)
        server.clock.advance(60)
        await server.login()


async def test_disabled_limits_never_refuse(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, **{**LIMITS, "rate_limits_enabled": False})) as srv:
        for _ in range(10):
            assert (await bad_login(srv)).status_code == 401


async def test_the_authorize_login_form_is_throttled_with_a_page(tmp_path: Path) -> None:
    settings = oauth_settings(tmp_path, **LIMITS)
    async with running(settings) as server:
        await server.add_user("alice")
        await web_client(server)
        for _ in range(3):
            page = await sign_in(server, authorize_query("web", Pkce.new()), password="nope nope!")
            assert page.status_code == 401
        page = await sign_in(server, authorize_query("web", Pkce.new()), password="nope nope!")
        assert page.status_code == 429
        assert form_fields(page)["step"] == "login"  # the form again, to retry later
        retry_after = int(page.headers["retry-after"])
        assert f"Too many sign-in attempts. Wait {retry_after} seconds" in page.text
