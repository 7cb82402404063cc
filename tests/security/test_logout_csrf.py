"""Attack: forced logout (OpenID Connect RP-Initiated Logout §2 and §6). Without an
``id_token_hint`` a logout request could come from any page (an ``<img>`` or a cross-site
form): the user is asked, and only a same-origin POST carrying the form's CSRF token signs
them out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http._oauth import (
    AFTER_LOGOUT,
    ISSUER,
    Pkce,
    authorization_code,
    authorize_query,
    form_action,
    oauth_server,
    redirect_query,
    web_client,
)
from tests.http._server import Server


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
