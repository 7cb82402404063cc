"""Attack surface removed: the implicit flow and the resource owner password grant (RFC 9700
§2.1.2 and §2.4). Tokens in the front channel leak through history, referrers and logs; the
password grant hands a user's password to the client. ``response_type`` values that would
return tokens from the authorization endpoint are ``unsupported_response_type`` (redirected:
the client and its redirect URI are known), never a token; ``grant_type=password`` and
``implicit`` are ``unsupported_grant_type``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http._oauth import (
    ISSUER,
    Pkce,
    authorize_query,
    basic,
    oauth_server,
    redirect_query,
    service_client,
    submit,
    web_client,
)
from tests.http._server import PASSWORD, Server, oauth

CREDENTIALS = {"username": "alice", "password": PASSWORD}
UNSUPPORTED_RESPONSE = "Only response_type=code is supported (RFC 9700 §2.1.2: no implicit flow)."


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        await web_client(srv, first_party=True)
        yield srv


@pytest.mark.parametrize(
    "response_type",
    [
        "token",
        "id_token token",
        "id_token",
        "code id_token",
        "code token",
        "code id_token token",
        "none",
        "CODE",
    ],
)
@pytest.mark.parametrize("signed_in", [False, True])
async def test_front_channel_token_responses_are_unsupported(
    server: Server, response_type: str, signed_in: bool
) -> None:
    if signed_in:  # even with a session, where a token could be handed out at once
        page = await server.client.get(
            "/oauth/authorize", params=authorize_query("web", Pkce.new())
        )
        assert "code" in redirect_query(await submit(server.client, page, CREDENTIALS))
    query = authorize_query("web", Pkce.new(), response_type=response_type)
    response = await server.client.get("/oauth/authorize", params=query)
    assert redirect_query(response) == {
        "error": "unsupported_response_type",
        "error_description": UNSUPPORTED_RESPONSE,
        "state": "st-web",
        "iss": ISSUER,
    }


@pytest.mark.parametrize(
    ("grant_type", "description"),
    [
        ("password", "The password grant is not supported (RFC 9700 §2.4)."),
        ("implicit", "The implicit flow is not supported (RFC 9700 §2.1.2)."),
    ],
)
async def test_password_and_implicit_grants_are_unsupported(
    server: Server, grant_type: str, description: str
) -> None:
    svc = await service_client(server)
    data = {"grant_type": grant_type, "username": "alice", "password": PASSWORD}
    response = await server.client.post("/oauth/token", data=data, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        oauth("unsupported_grant_type", description),
    )
    assert response.headers["cache-control"] == "no-store"


async def test_the_password_grant_is_not_advertised(server: Server) -> None:
    metadata = (await server.client.get("/.well-known/openid-configuration")).json()
    assert "password" not in metadata["grant_types_supported"]
    assert "implicit" not in metadata["grant_types_supported"]
    assert metadata["response_types_supported"] == ["code"]
