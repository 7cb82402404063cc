"""Attack: an authorization code presented twice (RFC 6749 §4.1.2, RFC 9700 §4.2.1). A code
leaks through a log, a referrer or browser history after the client redeemed it; whoever
presents it again is refused, and the tokens it was exchanged for are revoked, because the
server cannot tell the client from the thief."""

from __future__ import annotations

import pytest

from tests.http._oauth import (
    Pkce,
    authorization_code,
    authorize_query,
    basic,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    redeem,
    refresh,
    userinfo,
    web_client,
)
from tests.http._server import Server, oauth

BAD_GRANT = oauth("invalid_grant", "The grant is invalid, expired or revoked.")
INVALID_TOKEN = oauth("invalid_token", "The access token is invalid.")


@pytest.mark.parametrize("delay", [0, 30, 3600], ids=["at once", "within its life", "expired"])
async def test_a_replayed_code_revokes_what_it_produced(server: Server, delay: int) -> None:
    web = await web_client(server, first_party=True)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    first = await redeem(server, web, code, pkce)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert (await userinfo(server, tokens["access_token"])).status_code == 200  # control

    server.clock.advance(delay)
    replay = await redeem(server, web, code, pkce)
    assert (replay.status_code, replay.json()) == (400, BAD_GRANT)
    refreshed = await refresh(server, web, tokens["refresh_token"])
    assert (refreshed.status_code, refreshed.json()) == (400, BAD_GRANT)
    if delay < 900:  # the access token would still be alive: it is revoked
        info = await userinfo(server, tokens["access_token"])
        assert (info.status_code, info.json()) == (401, INVALID_TOKEN)
        answer = await server.client.post(
            "/oauth/introspect", data={"token": tokens["access_token"]}, auth=basic(web)
        )
        assert answer.json() == {"active": False}


async def test_a_replay_by_another_client_revokes_too(server: Server) -> None:
    web = await web_client(server, first_party=True)
    thief = await web_client(server, "thief")
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    tokens = (await redeem(server, web, code, pkce)).json()
    replay = await redeem(server, thief, code, pkce)
    assert (replay.status_code, replay.json()) == (400, BAD_GRANT)
    refreshed = await refresh(server, web, tokens["refresh_token"])
    assert (refreshed.status_code, refreshed.json()) == (400, BAD_GRANT)


async def test_a_rotated_family_is_revoked_as_a_whole(server: Server) -> None:
    # The client refreshed before the code was replayed: the successors go too.
    web = await web_client(server, first_party=True)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    tokens = (await redeem(server, web, code, pkce)).json()
    rotated = (await refresh(server, web, tokens["refresh_token"])).json()
    await redeem(server, web, code, pkce)
    refreshed = await refresh(server, web, rotated["refresh_token"])
    assert (refreshed.status_code, refreshed.json()) == (400, BAD_GRANT)
    info = await userinfo(server, rotated["access_token"])
    assert info.status_code == 401


async def test_other_sign_ins_are_not_touched(server: Server) -> None:
    web = await web_client(server, first_party=True)
    pkce, other_pkce = Pkce.new(), Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    other_code = await authorization_code(server, authorize_query("web", other_pkce))
    await redeem(server, web, code, pkce)
    other = (await redeem(server, web, other_code, other_pkce)).json()
    await redeem(server, web, code, pkce)
    assert (await refresh(server, web, other["refresh_token"])).status_code == 200
