"""``POST /oauth/token`` (RFC 6749 §3.2, §4.1.3, §4.4, §6): client authentication, strict
form parsing, the three grants, and the exact RFC 6749 §5.2 error bodies."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.authn.client_settings import ClientSettings
from ostiary.errors import InvalidClientMetadata
from ostiary.storage.records import ClientAuthMethod
from ostiary.tokens.id_token import token_hash

from ._oauth import (
    API,
    ISSUER,
    OTHER_API,
    Pkce,
    alice_id,
    authorization_code,
    authorize_query,
    basic,
    claims_of,
    code_flow_tokens,
    header_of,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    redeem,
    refresh,
    service_client,
    userinfo,
    web_client,
)
from ._server import NO_STORE, Server, oauth

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CC = {"grant_type": "client_credentials"}
BAD_CLIENT = oauth("invalid_client", "Client authentication failed.")
BAD_GRANT = oauth("invalid_grant", "The grant is invalid, expired or revoked.")
UNAUTHORIZED = oauth("unauthorized_client", "The client is not allowed to use this grant type.")
NOT_A_FORM = oauth("invalid_request", "The request body must be application/x-www-form-urlencoded.")
BASIC_CHALLENGE = 'Basic realm="ostiary"'


def assert_no_store(headers: Any) -> None:
    assert {k: headers[k] for k in NO_STORE} == NO_STORE


# --- client credentials (RFC 6749 §4.4) -------------------------------------------------------


async def test_client_credentials_issues_an_access_token_of_the_client(server: Server) -> None:
    svc = await service_client(server)
    response = await server.client.post("/oauth/token", data=CC, auth=basic(svc))
    assert response.status_code == 200, response.text
    assert_no_store(response.headers)
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    assert body["scope"] == "inventory:read inventory:write"
    assert header_of(body["access_token"])["typ"] == "at+jwt"
    claims = claims_of(body["access_token"])
    assert (claims["iss"], claims["sub"], claims["client_id"]) == (ISSUER, "svc", "svc")
    assert claims["aud"] == [API, OTHER_API]
    assert claims["scope"] == "inventory:read inventory:write"
    assert claims["exp"] - claims["iat"] == 900
    assert "sid" not in claims


async def test_client_credentials_narrows_scope_and_audience(server: Server) -> None:
    svc = await service_client(server)
    data = {**CC, "scope": "inventory:read", "resource": API}
    response = await server.client.post("/oauth/token", data=data, auth=basic(svc))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "inventory:read"
    assert claims_of(response.json()["access_token"])["aud"] == API


async def test_a_repeated_resource_is_allowed(server: Server) -> None:
    # RFC 8707 §2: the one parameter a client may repeat.
    svc = await service_client(server)
    content = "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com"
    content += "&resource=https%3A%2F%2Fother-api.example.com"
    response = await server.client.post(
        "/oauth/token", content=content, headers=FORM, auth=basic(svc)
    )
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["aud"] == [API, OTHER_API]


async def test_a_client_without_audiences_gets_no_token(server: Server) -> None:
    """RFC 9700 §2.3: never the server's own audience by default; a token for no API at all
    would be of no use."""
    svc = await service_client(server, audiences=())
    response = await server.client.post("/oauth/token", data=CC, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_target",
            "error_description": "The client is registered for no resource (audience).",
        },
    )


async def test_a_scope_the_client_may_not_have_is_invalid_scope(server: Server) -> None:
    svc = await service_client(server)
    data = {**CC, "scope": "inventory:read admin"}
    response = await server.client.post("/oauth/token", data=data, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_scope", "The client may not ask for the scope 'admin'."),
    )
    assert_no_store(response.headers)


async def test_a_resource_the_client_may_not_have_is_invalid_target(server: Server) -> None:
    svc = await service_client(server)
    data = {**CC, "resource": "https://evil.example"}
    response = await server.client.post("/oauth/token", data=data, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_target", "The client may not ask for the resource 'https://evil.example'."),
    )


# --- client authentication (RFC 6749 §2.3, §5.2) ----------------------------------------------


@pytest.mark.parametrize(
    "auth", [("svc", "wrong-secret"), ("nobody", "secret"), ("svc", "")], ids=repr
)
async def test_bad_client_credentials_are_401_with_a_basic_challenge(
    server: Server, auth: tuple[str, str]
) -> None:
    await service_client(server)
    response = await server.client.post("/oauth/token", data=CC, auth=auth)
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE
    assert_no_store(response.headers)


@pytest.mark.parametrize(
    "authorization", ["Bearer abc", "Basic !!!", "Basic " + "c3Zj", "Digest x"], ids=repr
)
async def test_a_malformed_authorization_header_is_invalid_client(
    server: Server, authorization: str
) -> None:
    await service_client(server)
    response = await server.client.post(
        "/oauth/token", data=CC, headers={"Authorization": authorization}
    )
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE


async def test_no_client_authentication_is_invalid_client(server: Server) -> None:
    response = await server.client.post("/oauth/token", data=CC)
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


async def test_client_secret_post(server: Server) -> None:
    svc = await service_client(server, auth_method=ClientAuthMethod.CLIENT_SECRET_POST)
    assert svc.secret is not None
    data = {**CC, "client_id": "svc", "client_secret": svc.secret}
    response = await server.client.post("/oauth/token", data=data)
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["sub"] == "svc"
    # The method is the registered one: the same secret in a Basic header is refused.
    basic_response = await server.client.post("/oauth/token", data=CC, auth=basic(svc))
    assert (basic_response.status_code, basic_response.json()) == (401, BAD_CLIENT)


async def test_a_basic_client_may_not_post_its_secret(server: Server) -> None:
    svc = await service_client(server)
    assert svc.secret is not None
    data = {**CC, "client_id": "svc", "client_secret": svc.secret}
    response = await server.client.post("/oauth/token", data=data)
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


async def test_two_authentication_methods_are_invalid_request(server: Server) -> None:
    svc = await service_client(server)
    assert svc.secret is not None
    data = {**CC, "client_id": "svc", "client_secret": svc.secret}
    response = await server.client.post("/oauth/token", data=data, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "Use one client authentication method per request."),
    )


async def test_a_body_client_id_that_differs_from_basic_is_invalid_request(
    server: Server,
) -> None:
    svc = await service_client(server)
    data = {**CC, "client_id": "someone-else"}
    response = await server.client.post("/oauth/token", data=data, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The client_id parameter differs from the authenticated client."),
    )


async def test_two_authorization_headers_are_invalid_request(server: Server) -> None:
    await service_client(server)
    response = await server.client.post(
        "/oauth/token",
        data=CC,
        headers=[("Authorization", "Basic eDp5"), ("Authorization", "Basic eDp5")],
    )
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "Send one Authorization header."),
    )


# --- the form (RFC 6749 §3.2) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name"),
    [
        ("grant_type=client_credentials&grant_type=client_credentials", "grant_type"),
        ("grant_type=client_credentials&scope=inventory%3Aread&scope=admin", "scope"),
        ("grant_type=client_credentials&client_id=svc&client_id=svc", "client_id"),
    ],
)
async def test_a_repeated_parameter_is_invalid_request(
    server: Server, content: str, name: str
) -> None:
    svc = await service_client(server)
    response = await server.client.post(
        "/oauth/token", content=content, headers=FORM, auth=basic(svc)
    )
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", f"The {name} parameter is repeated."),
    )
    assert_no_store(response.headers)


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", None]
)
async def test_a_body_that_is_not_a_form_is_invalid_request(
    server: Server, content_type: str | None
) -> None:
    svc = await service_client(server)
    headers = {"Content-Type": content_type} if content_type is not None else {}
    response = await server.client.post(
        "/oauth/token", content=b"grant_type=client_credentials", headers=headers, auth=basic(svc)
    )
    assert (response.status_code, response.json()) == (400, NOT_A_FORM)


async def test_a_form_with_a_charset_is_accepted(server: Server) -> None:
    svc = await service_client(server)
    response = await server.client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
        auth=basic(svc),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("content", [b"grant_type=%FF", b"a&&b", b"grant_type"], ids=repr)
async def test_a_malformed_form_is_invalid_request(server: Server, content: bytes) -> None:
    svc = await service_client(server)
    response = await server.client.post(
        "/oauth/token", content=content, headers=FORM, auth=basic(svc)
    )
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The form body is malformed or has too many fields."),
    )


async def test_a_missing_grant_type_is_invalid_request(server: Server) -> None:
    svc = await service_client(server)
    response = await server.client.post("/oauth/token", data={"scope": "x"}, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The grant_type parameter is missing."),
    )


async def test_an_unknown_grant_type_is_unsupported(server: Server) -> None:
    svc = await service_client(server)
    data = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}
    response = await server.client.post("/oauth/token", data=data, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        oauth("unsupported_grant_type", "The grant type is not supported."),
    )


async def test_a_grant_the_client_is_not_registered_for_is_unauthorized_client(
    server: Server,
) -> None:
    svc = await service_client(server)
    data = {"grant_type": "refresh_token", "refresh_token": "x"}
    response = await server.client.post("/oauth/token", data=data, auth=basic(svc))
    assert (response.status_code, response.json()) == (400, UNAUTHORIZED)


async def test_get_is_not_allowed(server: Server) -> None:
    response = await server.client.get("/oauth/token")
    assert response.status_code == 405


# --- authorization code (RFC 6749 §4.1.3, OpenID Connect Core §3.1.3) ----------------------------


async def test_the_code_flow_issues_access_refresh_and_id_tokens(server: Server) -> None:
    web = await web_client(server)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    response = await redeem(server, web, code, pkce)
    assert response.status_code == 200, response.text
    assert_no_store(response.headers)
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "refresh_token",
        "refresh_token_expires_in",
        "id_token",
    }
    assert (body["token_type"], body["scope"]) == ("Bearer", "openid profile")
    alice = await alice_id(server)
    access = claims_of(body["access_token"])
    userinfo = f"{ISSUER}/oauth/userinfo"  # registered for no API: for UserInfo alone
    assert (access["sub"], access["client_id"], access["aud"]) == (alice, "web", userinfo)
    assert access["scope"] == "openid profile"
    assert header_of(body["id_token"])["typ"] == "JWT"
    id_token = claims_of(body["id_token"])
    assert (id_token["iss"], id_token["sub"], id_token["aud"]) == (ISSUER, alice, "web")
    assert id_token["nonce"] == "n-web"
    assert id_token["auth_time"] == int(server.clock.now())
    assert id_token["preferred_username"] == "alice"
    assert id_token["sid"].startswith("bs_")
    assert id_token["at_hash"] == token_hash(body["access_token"], "ES256")


async def test_a_client_without_the_refresh_grant_gets_no_refresh_token(server: Server) -> None:
    web = await web_client(server, grant_types={"authorization_code"})
    tokens = await code_flow_tokens(server, web)
    assert "refresh_token" not in tokens
    assert "refresh_token_expires_in" not in tokens


async def test_an_expired_code_is_invalid_grant(server: Server) -> None:
    web = await web_client(server)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    server.clock.advance(61)
    response = await redeem(server, web, code, pkce)
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_a_different_redirect_uri_is_invalid_grant(server: Server) -> None:
    web = await web_client(
        server, redirect_uris=("http://localhost:9000/cb", "http://localhost:9000/b")
    )
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    response = await redeem(server, web, code, pkce, redirect_uri="http://localhost:9000/b")
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_an_unknown_code_is_invalid_grant(server: Server) -> None:
    web = await web_client(server)
    response = await redeem(server, web, "not-a-code", Pkce.new())
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_a_missing_code_is_invalid_request(server: Server) -> None:
    web = await web_client(server)
    data = {"grant_type": "authorization_code", "code_verifier": Pkce.new().verifier}
    response = await server.client.post("/oauth/token", data=data, auth=basic(web))
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The code parameter is missing."),
    )


# --- public clients (RFC 6749 §2.1, RFC 7636) -------------------------------------------------


async def test_a_public_client_redeems_its_code_with_pkce_alone(server: Server) -> None:
    spa = await web_client(server, "spa", auth_method=ClientAuthMethod.NONE)
    assert spa.secret is None
    tokens = await code_flow_tokens(server, spa)
    assert claims_of(tokens["access_token"])["client_id"] == "spa"
    assert claims_of(tokens["id_token"])["aud"] == "spa"


async def test_a_public_client_that_sends_a_secret_is_invalid_client(server: Server) -> None:
    await web_client(server, "spa", auth_method=ClientAuthMethod.NONE)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("spa", pkce))
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": pkce.verifier}
    response = await server.client.post("/oauth/token", data=data, auth=("spa", "guess"))
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


async def test_a_public_client_cannot_use_client_credentials(server: Server) -> None:
    await web_client(server, "spa", auth_method=ClientAuthMethod.NONE)
    response = await server.client.post("/oauth/token", data={**CC, "client_id": "spa"})
    assert (response.status_code, response.json()) == (400, UNAUTHORIZED)
    # ... nor be registered for it (it has no credentials, RFC 6749 §4.4).
    with pytest.raises(InvalidClientMetadata):
        await server.services.oauth.clients.create(
            ClientSettings(
                name="Public service",
                auth_method=ClientAuthMethod.NONE,
                grant_types=frozenset({"client_credentials"}),
            )
        )


async def test_a_public_client_naming_a_confidential_one_is_invalid_client(
    server: Server,
) -> None:
    await web_client(server)
    response = await server.client.post("/oauth/token", data={**CC, "client_id": "web"})
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


# --- refresh (RFC 6749 §6, RFC 9700 §4.14.2) --------------------------------------------------


async def test_refresh_rotates_the_refresh_token(server: Server) -> None:
    web = await web_client(server)
    tokens = await code_flow_tokens(server, web)
    server.clock.advance(30)
    response = await refresh(server, web, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    assert_no_store(response.headers)
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "refresh_token",
        "refresh_token_expires_in",
    }
    assert body["refresh_token"] != tokens["refresh_token"]
    assert body["scope"] == "openid profile"
    old, new = claims_of(tokens["access_token"]), claims_of(body["access_token"])
    assert (new["sub"], new["client_id"], new["sid"]) == (old["sub"], "web", old["sid"])
    assert new["iat"] == old["iat"] + 30
    again = await refresh(server, web, body["refresh_token"])
    assert again.status_code == 200, again.text


async def test_reusing_a_rotated_refresh_token_revokes_the_family(server: Server) -> None:
    web = await web_client(server)
    tokens = await code_flow_tokens(server, web)
    rotated = (await refresh(server, web, tokens["refresh_token"])).json()
    server.past_refresh_grace()
    reuse = await refresh(server, web, tokens["refresh_token"])
    assert (reuse.status_code, reuse.json()) == (400, BAD_GRANT)
    # The thief or the user: the server cannot tell, so the whole family ends.
    successor = await refresh(server, web, rotated["refresh_token"])
    assert (successor.status_code, successor.json()) == (400, BAD_GRANT)
    for access in (tokens["access_token"], rotated["access_token"]):
        response = await userinfo(server, access)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


async def test_a_refresh_token_is_bound_to_its_client(server: Server) -> None:
    web = await web_client(server)
    other = await web_client(server, "other")
    tokens = await code_flow_tokens(server, web)
    stolen = await refresh(server, other, tokens["refresh_token"])
    assert (stolen.status_code, stolen.json()) == (400, BAD_GRANT)
    # Refused untouched: its own client still refreshes with it.
    own = await refresh(server, web, tokens["refresh_token"])
    assert own.status_code == 200, own.text


async def test_refresh_may_narrow_the_scope_but_not_widen_it(server: Server) -> None:
    web = await web_client(server, scopes={"openid", "profile", "offline_access"})
    tokens = await code_flow_tokens(server, web)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    narrowed = await server.client.post(
        "/oauth/token", data={**data, "scope": "openid"}, auth=basic(web)
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "openid"
    assert claims_of(narrowed.json()["access_token"])["scope"] == "openid"
    data["refresh_token"] = narrowed.json()["refresh_token"]
    wider = await server.client.post(
        "/oauth/token", data={**data, "scope": "openid offline_access"}, auth=basic(web)
    )
    assert (wider.status_code, wider.json()) == (
        400,
        oauth("invalid_scope", "The requested scope is invalid or exceeds what was granted."),
    )


async def test_an_unknown_refresh_token_is_invalid_grant(server: Server) -> None:
    web = await web_client(server)
    response = await refresh(server, web, "x" * 43)
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_refresh_keeps_the_audience_of_the_authorization(server: Server) -> None:
    web = await web_client(server, audiences={API, OTHER_API}, first_party=True)
    tokens = await code_flow_tokens(server, web, resource=API)
    assert claims_of(tokens["access_token"])["aud"] == API
    refreshed = await refresh(server, web, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert claims_of(refreshed.json()["access_token"])["aud"] == API


async def test_refresh_may_not_add_a_resource_the_grant_lacks(server: Server) -> None:
    web = await web_client(server, audiences={API, OTHER_API}, first_party=True)
    tokens = await code_flow_tokens(server, web, resource=API)
    data = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "resource": OTHER_API,
    }
    response = await server.client.post("/oauth/token", data=data, auth=basic(web))
    assert (response.status_code, response.json().get("error")) == (400, "invalid_target")
