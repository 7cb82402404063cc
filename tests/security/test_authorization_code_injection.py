"""Attack: authorization code injection (RFC 9700 §4.5, RFC 6749 §4.1.3). A code is bound to
the client it was issued to, the redirect URI it was issued for and the PKCE challenge of its
request: a code of client A redeemed by client B, a code sent to another redirect URI or
redeemed without naming it, or an attacker's own code slipped into a victim's session (which
the victim's client redeems with its own verifier) is refused."""

from __future__ import annotations

from ostiary.storage.records import ClientAuthMethod
from tests.http._oauth import (
    Pkce,
    authorization_code,
    authorize_query,
    basic,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    redeem,
    web_client,
)
from tests.http._server import Server, oauth

BAD_GRANT = oauth("invalid_grant", "The grant is invalid, expired or revoked.")
BAD_CLIENT = oauth("invalid_client", "Client authentication failed.")


async def test_a_code_of_client_a_redeemed_by_client_b(server: Server) -> None:
    await web_client(server, "client-a", first_party=True)
    client_b = await web_client(server, "client-b", first_party=True)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("client-a", pkce))
    response = await redeem(server, client_b, code, pkce)
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_a_code_of_a_public_client_redeemed_by_another_public_client(
    server: Server,
) -> None:
    none = ClientAuthMethod.NONE
    await web_client(server, "spa-a", auth_method=none, first_party=True)
    spa_b = await web_client(server, "spa-b", auth_method=none, first_party=True)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("spa-a", pkce))
    response = await redeem(server, spa_b, code, pkce)
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_client_b_cannot_pass_for_client_a(server: Server) -> None:
    client_a = await web_client(server, "client-a", first_party=True)
    client_b = await web_client(server, "client-b", first_party=True)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("client-a", pkce))
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": pkce.verifier}
    assert client_b.secret is not None
    as_a = await server.client.post("/oauth/token", data=data, auth=("client-a", client_b.secret))
    assert (as_a.status_code, as_a.json()) == (401, BAD_CLIENT)
    naming_a = await server.client.post(
        "/oauth/token", data={**data, "client_id": "client-a"}, auth=basic(client_b)
    )
    assert naming_a.status_code == 400
    assert naming_a.json()["error"] == "invalid_request"
    # Neither attempt reached the code: client A still redeems it.
    assert (await redeem(server, client_a, code, pkce)).status_code == 200


async def test_a_code_sent_to_another_redirect_uri(server: Server) -> None:
    other = "http://localhost:9000/other"
    web = await web_client(
        server, redirect_uris=("http://localhost:9000/cb", other), first_party=True
    )
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    response = await redeem(server, web, code, pkce, redirect_uri=other)
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_an_attackers_code_in_the_victims_session(server: Server) -> None:
    # The attacker runs the flow with its own PKCE pair, then makes the victim's browser
    # deliver the code to the client, which redeems it with the victim's verifier.
    web = await web_client(server, first_party=True)
    attacker, victim = Pkce.new(), Pkce.new()
    code = await authorization_code(server, authorize_query("web", attacker))
    response = await redeem(server, web, code, victim)
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_a_code_redeemed_without_its_redirect_uri(server: Server) -> None:
    # RFC 6749 §4.1.3: redirect_uri is required at the token endpoint when the authorization
    # request carried it, and must be identical; §5.2: invalid_grant ("does not match the
    # redirection URI used in the authorization request").
    web = await web_client(server, first_party=True)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": pkce.verifier}
    response = await server.client.post("/oauth/token", data=data, auth=basic(web))
    assert (response.status_code, response.json()) == (400, BAD_GRANT)
