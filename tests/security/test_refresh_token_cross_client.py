"""Attack: a refresh token used by another client than the one it was issued to (RFC 6749
§6 and §10.4, RFC 8707 §2.2). A refresh token an OAuth client got from the authorization code
flow was accepted by the first-party ``POST /auth/refresh`` without any client authentication,
and came back as a first-party token (the server's own audience, the first-party
``client_id``); it kept working after its client was deleted.

Now every refresh family is bound to its client, each refresh endpoint accepts only its own
families, a refused attempt leaves the token to its client, and deleting a client ends its
families and their access tokens."""

from __future__ import annotations

from tests.http._oauth import (
    API,
    claims_of,
    code_flow_tokens,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    refresh,
    userinfo,
    web_client,
)
from tests.http._server import BAD_GRANT, Server, bearer


async def test_an_oauth_clients_refresh_token_is_refused_by_the_first_party_endpoint(
    server: Server,
) -> None:
    web = await web_client(server, audiences=(API,))
    tokens = await code_flow_tokens(server, web)

    stolen = await server.refresh(tokens["refresh_token"])

    assert (stolen.status_code, stolen.json()) == (400, BAD_GRANT)
    assert "access_token" not in stolen.text
    # The refusal did not burn the token: its own client still refreshes with it.
    own = await refresh(server, web, tokens["refresh_token"])
    assert own.status_code == 200, own.text
    assert claims_of(own.json()["access_token"])["client_id"] == "web"


async def test_a_first_party_refresh_token_is_refused_at_the_token_endpoint(
    server: Server,
) -> None:
    web = await web_client(server, audiences=(API,))
    login = await server.login()

    answer = await refresh(server, web, login["refresh_token"])

    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert (await server.refresh(login["refresh_token"])).status_code == 200


async def test_deleting_a_client_ends_its_refresh_tokens_and_access_tokens(
    server: Server,
) -> None:
    web = await web_client(server)
    tokens = await code_flow_tokens(server, web)
    assert (await userinfo(server, tokens["access_token"])).status_code == 200

    assert await server.services.oauth.clients.delete("web")

    assert (await server.refresh(tokens["refresh_token"])).status_code == 400
    assert (await userinfo(server, tokens["access_token"])).status_code == 401
    # Registered again under the same id, the client gets none of the old grant back.
    again = await web_client(server)
    answer = await refresh(server, again, tokens["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_a_refreshed_first_party_token_stays_first_party(server: Server) -> None:
    """Control: the first-party refresh works and keeps its own audiences."""
    login = await server.login()
    refreshed = await server.refresh(login["refresh_token"])
    assert refreshed.status_code == 200
    new = refreshed.json()["access_token"]
    assert claims_of(new)["client_id"] == "ostiary"
    assert (await server.client.get("/auth/me", headers=bearer(new))).status_code == 200
