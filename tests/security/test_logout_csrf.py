"""Attack: forced logout (OpenID Connect RP-Initiated Logout §2 and §6). Without an
``id_token_hint`` a logout request could come from any page (an ``<img>`` or a cross-site
form): the user is asked, and only a same-origin POST carrying the form's CSRF token signs
them out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostiary.authn.client_registry import Registered
from tests.http._oauth import (
    AFTER_LOGOUT,
    ISSUER,
    REDIRECT,
    Pkce,
    another_browser,
    authorization_code,
    authorize_query,
    basic,
    code_flow_tokens,
    form_action,
    oauth_server,
    redirect_query,
    refresh,
    submit,
    web_client,
)
from tests.http._server import PASSWORD, Server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        await web_client(srv, first_party=True)
        await authorization_code(srv, authorize_query("web", Pkce.new()))
        yield srv


async def signed_in(server: Server) -> bool:
    query = authorize_query("web", Pkce.new(), prompt="none")
    response = await server.client.get("/oauth/authorize", params=query)
    return "code" in redirect_query(response)


@pytest.mark.parametrize(
    "params",
    [{}, {"client_id": "web", "post_logout_redirect_uri": AFTER_LOGOUT, "state": "s"}],
    ids=["bare", "with a registered return"],
)
async def test_a_get_without_a_hint_signs_nobody_out(
    server: Server, params: dict[str, str]
) -> None:
    response = await server.client.get("/oauth/logout", params=params)
    assert response.status_code == 200
    assert form_action(response) == "/oauth/logout"
    assert "location" not in response.headers
    assert await signed_in(server)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": ISSUER}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["cross-site form", "same origin without token", "cross-site fetch"],
)
async def test_a_post_without_the_forms_token_signs_nobody_out(
    server: Server, headers: dict[str, str]
) -> None:
    data = {"decision": "allow", "csrf_token": "guess"}
    response = await server.client.post("/oauth/logout", data=data, headers=headers)
    assert response.status_code == 200
    assert form_action(response) == "/oauth/logout"
    assert await signed_in(server)


# --- with an id_token_hint: it skips the question only for its own, live session -----------


@dataclass(frozen=True, slots=True)
class Victim:
    """Alice, signed in to ``web`` in ``server.client`` (her browser), with her tokens."""

    server: Server
    web: Registered
    tokens: dict[str, Any]

    async def still_signed_in(self) -> bool:
        refreshed = await refresh(self.server, self.web, self.tokens["refresh_token"])
        return await signed_in(self.server) and refreshed.status_code == 200


@pytest.fixture
async def victim(tmp_path: Path) -> AsyncIterator[Victim]:
    async with oauth_server(tmp_path) as srv:
        web = await web_client(srv, first_party=True)
        await srv.add_user("mallory")
        yield Victim(srv, web, await code_flow_tokens(srv, web))


async def id_token_of(browser: httpx.AsyncClient, web: Registered, username: str) -> str:
    """The ID token ``username`` gets by signing in to ``web`` with ``browser``."""
    pkce = Pkce.new()
    page = await browser.get("/oauth/authorize", params=authorize_query("web", pkce))
    answer = await submit(browser, page, {"username": username, "password": PASSWORD})
    data = {
        "grant_type": "authorization_code",
        "code": redirect_query(answer)["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": pkce.verifier,
    }
    response = await browser.post("/oauth/token", data=data, auth=basic(web))
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token


def asks_first(response: httpx.Response) -> bool:
    return (
        response.status_code == 200
        and form_action(response) == "/oauth/logout"
        and "location" not in response.headers
    )


async def test_the_attackers_own_hint_followed_by_the_victim_asks_first(victim: Victim) -> None:
    # Mallory signs in, gets an ID token of her own, and makes Alice's browser open the
    # logout URL with it (a link, an <img>, a redirect from her site).
    async with another_browser(victim.server) as attacker:
        hint = await id_token_of(attacker, victim.web, "mallory")
    response = await victim.server.client.get("/oauth/logout", params={"id_token_hint": hint})
    assert asks_first(response)
    assert await victim.still_signed_in()


async def test_a_hint_does_not_end_its_session_from_another_browser(victim: Victim) -> None:
    # The hint names Alice's session, but the browser that sends it is not hers: a logout
    # only ever ends the sending browser's own session (here it has none: nothing to end,
    # nothing to ask), never the one the hint names.
    async with another_browser(victim.server) as attacker:
        hint = {"id_token_hint": victim.tokens["id_token"]}
        response = await attacker.get("/oauth/logout", params=hint)
        assert response.status_code == 200 and "<form" not in response.text
    assert await victim.still_signed_in()


async def test_an_expired_own_hint_asks_first(victim: Victim) -> None:
    victim.server.clock.advance(3600)
    hint = {"id_token_hint": victim.tokens["id_token"]}
    response = await victim.server.client.get("/oauth/logout", params=hint)
    assert asks_first(response)
    assert await signed_in(victim.server)


async def test_a_valid_own_hint_signs_out_at_once(victim: Victim) -> None:
    params = {
        "id_token_hint": victim.tokens["id_token"],
        "post_logout_redirect_uri": AFTER_LOGOUT,
        "state": "bye",
    }
    response = await victim.server.client.get("/oauth/logout", params=params)
    assert redirect_query(response, AFTER_LOGOUT) == {"state": "bye"}
    assert not await signed_in(victim.server)
    refused = await refresh(victim.server, victim.web, victim.tokens["refresh_token"])
    assert refused.status_code == 400
