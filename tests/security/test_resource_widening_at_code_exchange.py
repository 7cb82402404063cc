"""Attack: widening a grant's resources at the code exchange (RFC 8707 §2.2). The ``resource``
of the token request is honoured only within what the user granted at the authorization
endpoint: it narrows the access token's ``aud`` to the resources named, and a resource outside
the grant is ``invalid_target``, never silently ignored. A client that asks for one API gets a
token only that API accepts, not one every API of the grant (or of its registration) accepts."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

import httpx
import pytest

from ostiary.authn.client_registry import Registered
from tests.http._oauth import (
    API,
    OTHER_API,
    REDIRECT,
    Pkce,
    authorization_code,
    authorize_query,
    basic,
    claims_of,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    redirect_query,
    refresh,
    web_client,
)
from tests.http._server import Server

FORM: Final = {"Content-Type": "application/x-www-form-urlencoded"}


async def signed_in_web(server: Server) -> Registered:
    """The client ``web``, registered for two APIs, and alice signed in to this browser."""
    client = await web_client(server, audiences=(API, OTHER_API), first_party=True)
    await authorization_code(server, authorize_query("web", Pkce.new()))
    return client


async def exchange(
    server: Server, client: Registered, *, granted: tuple[str, ...], asked: tuple[str, ...]
) -> httpx.Response:
    """Authorize with ``granted`` as ``resource`` values, then redeem asking for ``asked``."""
    pkce = Pkce.new()
    query = [*authorize_query("web", pkce).items(), *(("resource", r) for r in granted)]
    page = await server.client.get("/oauth/authorize?" + urlencode(query))
    code = redirect_query(page)["code"]
    data = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", pkce.verifier),
        *(("resource", r) for r in asked),
    ]
    return await server.client.post(
        "/oauth/token", content=urlencode(data), headers=FORM, auth=basic(client)
    )


@pytest.mark.parametrize(
    ("granted", "asked"),
    [
        ((API,), (OTHER_API,)),
        ((API,), (API, OTHER_API)),
        ((), ("https://evil.example",)),
        ((API, OTHER_API), (API, "https://evil.example")),
    ],
    ids=["another registered API", "one more", "a foreign one", "one of the grant's and more"],
)
async def test_a_resource_outside_the_grant_is_invalid_target(
    server: Server, granted: tuple[str, ...], asked: tuple[str, ...]
) -> None:
    client = await signed_in_web(server)
    response = await exchange(server, client, granted=granted, asked=asked)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_target"


def audiences(token: str) -> set[str]:
    aud = claims_of(token)["aud"]
    return {aud} if isinstance(aud, str) else set(aud)


@pytest.mark.parametrize("granted", [(API, OTHER_API), ()], ids=["named", "registered"])
async def test_a_resource_within_the_grant_narrows_the_audience(
    server: Server, granted: tuple[str, ...]
) -> None:
    client = await signed_in_web(server)
    whole = await exchange(server, client, granted=granted, asked=())
    assert whole.status_code == 200, whole.text
    grant = audiences(whole.json()["access_token"])
    assert {API, OTHER_API} <= grant
    response = await exchange(server, client, granted=granted, asked=(API,))
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert claims_of(tokens["access_token"])["aud"] == API
    # The grant itself is not narrowed: a refresh without resource gets all of it (§2.2).
    refreshed = await refresh(server, client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert audiences(refreshed.json()["access_token"]) == grant
