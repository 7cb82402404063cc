"""OpenID Connect Back-Channel Logout 1.0 through the server: discovery says so (§2.1), and a
relying party under a real uvicorn receives a Logout Token (§2.4, §2.5) when the user logs out
at ``/oauth/logout`` (RP-Initiated Logout) or everywhere at ``/auth/logout-all``, verifiable
with the keys of the server's JWKS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.authn.client_settings import ClientSettings
from ostiary.jose import JWKSet, JWTVerifier
from ostiary.tokens.logout_token import BACKCHANNEL_LOGOUT_EVENT, logout_token_rules
from tests._relying_party import LOGOUT_PATH, Received, RelyingParty, running_relying_party

from ._oauth import (
    AFTER_LOGOUT,
    CODE_FLOW,
    ISSUER,
    OIDC_SCOPES,
    REDIRECT,
    claims_of,
    code_flow_tokens,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    web_client,
)
from ._server import Server, bearer


@pytest.fixture
def rp() -> Iterator[tuple[RelyingParty, str]]:
    with running_relying_party() as running:
        yield running


async def relying_party(server: Server, url: str, client_id: str = "rp") -> Registered:
    settings = ClientSettings(
        name="Relying party",
        grant_types=CODE_FLOW,
        redirect_uris=(REDIRECT,),
        post_logout_redirect_uris=(AFTER_LOGOUT,),
        scopes=OIDC_SCOPES,
        first_party=True,
        backchannel_logout_uri=f"{url}{LOGOUT_PATH}",
    )
    return await server.services.oauth.clients.create(settings, client_id=client_id)


async def verified(server: Server, received: Received, client_id: str) -> dict[str, Any]:
    """The Logout Token's claims, checked as §2.6 asks, with the keys the server publishes."""
    assert received.method == "POST"
    assert received.path == LOGOUT_PATH
    assert received.content_type == "application/x-www-form-urlencoded"
    jwks = (await server.client.get("/.well-known/jwks.json")).json()
    claims = JWTVerifier(logout_token_rules(ISSUER, client_id, leeway=5)).verify(
        received.logout_token, JWKSet.from_dict(jwks), now=server.clock.now()
    )
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert "nonce" not in claims
    return claims


async def test_discovery_says_back_channel_logout_with_sid_is_supported(server: Server) -> None:
    metadata = (await server.client.get("/.well-known/openid-configuration")).json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True


async def test_rp_initiated_logout_sends_a_logout_token_to_the_relying_party(
    server: Server, rp: tuple[RelyingParty, str]
) -> None:
    party, url = rp
    registered = await relying_party(server, url)
    await web_client(server, "quiet", first_party=True)  # no back-channel URI: not told
    tokens = await code_flow_tokens(server, registered)
    id_token = claims_of(tokens["id_token"])
    response = await server.client.get(
        "/oauth/logout", params={"id_token_hint": tokens["id_token"]}
    )
    assert response.status_code == 200
    await server.services.backchannel.drain()
    (received,) = party.received
    claims = await verified(server, received, "rp")
    # §2.4: sid and sub are the ID token's, so that the relying party finds its session.
    assert (claims["sid"], claims["sub"]) == (id_token["sid"], id_token["sub"])
    assert claims["iss"] == ISSUER
    assert 0 < claims["exp"] - claims["iat"] <= 120


async def test_logout_everywhere_tells_every_relying_party_of_every_browser(
    server: Server, rp: tuple[RelyingParty, str]
) -> None:
    party, url = rp
    first, second = await relying_party(server, url), await relying_party(server, url, "rp-2")
    one = claims_of((await code_flow_tokens(server, first))["id_token"])
    server.client.cookies.clear()  # alice signs in again in another browser
    two = claims_of((await code_flow_tokens(server, second))["id_token"])
    assert one["sid"] != two["sid"]
    session = await server.login()
    response = await server.client.post("/auth/logout-all", headers=bearer(session["access_token"]))
    assert response.status_code == 204
    await server.services.backchannel.drain()
    told = {}
    for received in party.received:
        audience = claims_of(received.logout_token)["aud"]
        claims = await verified(server, received, audience)
        told[audience] = claims["sid"]
    assert told == {"rp": one["sid"], "rp-2": two["sid"]}
