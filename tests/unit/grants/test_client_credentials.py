"""The client credentials grant (RFC 6749 §4.4) with RFC 8707 resources."""

from __future__ import annotations

import dataclasses

import pytest

from ostiary.authn.client_auth import ClientCredentials
from ostiary.authn.client_settings import CLIENT_CREDENTIALS
from ostiary.errors import (
    InvalidClient,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
    WrongAudience,
)
from ostiary.grants.base import OAuthParams
from ostiary.grants.client_credentials import ClientCredentialsGrant
from ostiary.jose import parse_compact
from ostiary.storage.records import ClientAuthMethod
from tests.unit.grants._server import (
    AUDIENCE,
    BILLING,
    ORDERS,
    T0,
    OAuthServer,
    basic,
)

GRANT = {"grant_type": CLIENT_CREDENTIALS}


def request(**params: str) -> OAuthParams:
    return OAuthParams({**GRANT, **params})


async def test_a_service_gets_a_token_of_its_own_for_its_registered_audiences(
    server: OAuthServer,
) -> None:
    svc = await server.add_service()
    response = await server.endpoint.exchange(basic(svc), request())
    body = response.body()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh token
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    assert body["scope"] == "orders:read orders:write"
    claims = await server.verifier(ORDERS).verify(body["access_token"])
    assert (claims.sub, claims.client_id, claims.sid) == ("svc", "svc", None)
    assert claims.audiences == (BILLING, ORDERS)
    assert claims.raw["roles"] == [] and claims.iat == int(T0)
    assert parse_compact(body["access_token"]).header["typ"] == "at+jwt"


async def test_the_scope_asked_narrows_the_token(server: OAuthServer) -> None:
    svc = await server.add_service()
    response = await server.endpoint.exchange(basic(svc), request(scope="orders:read"))
    assert response.scope == "orders:read"
    claims = await server.verifier(ORDERS).verify(response.access.token)
    assert claims.scopes == {"orders:read"}


async def test_a_scope_beyond_the_registered_ones_is_invalid_scope(server: OAuthServer) -> None:
    svc = await server.add_service()
    with pytest.raises(InvalidScope):
        await server.endpoint.exchange(basic(svc), request(scope="orders:read admin"))


async def test_one_resource_gives_a_single_string_audience(server: OAuthServer) -> None:
    svc = await server.add_service()
    response = await server.endpoint.exchange(basic(svc), OAuthParams(GRANT, (BILLING,)))
    claims = await server.verifier(BILLING).verify(response.access.token)
    assert claims.raw["aud"] == BILLING
    with pytest.raises(WrongAudience):
        await server.verifier(ORDERS).verify(response.access.token)


async def test_a_resource_the_client_is_not_registered_for_is_invalid_target(
    server: OAuthServer,
) -> None:
    svc = await server.add_service(audiences=frozenset({ORDERS}))
    for resources in ((BILLING,), (ORDERS, BILLING), (AUDIENCE,)):
        with pytest.raises(InvalidTarget):
            await server.endpoint.exchange(basic(svc), OAuthParams(GRANT, resources))


async def test_a_client_registered_for_no_audience_gets_no_token(server: OAuthServer) -> None:
    """RFC 9700 §2.3: no default audience, least of all one of the server's own APIs."""
    svc = await server.add_service(audiences=frozenset())
    with pytest.raises(InvalidTarget, match="no resource"):
        await server.endpoint.exchange(basic(svc), request())


async def test_a_public_client_never_gets_a_client_credentials_token(
    server: OAuthServer,
) -> None:
    spa = await server.add_web_app("spa", public=True)
    with pytest.raises(UnauthorizedClient):
        await server.endpoint.exchange(ClientCredentials(client_id="spa"), request())
    # Even a record that (wrongly) lists the grant is refused by the grant itself.
    listed = dataclasses.replace(
        spa.client, grant_types=spa.client.grant_types | {CLIENT_CREDENTIALS}
    )
    assert listed.auth_method is ClientAuthMethod.NONE
    with pytest.raises(UnauthorizedClient):
        await ClientCredentialsGrant(server.access).exchange(request(), listed)


async def test_a_client_not_registered_for_the_grant_is_unauthorized(server: OAuthServer) -> None:
    web = await server.add_web_app()
    with pytest.raises(UnauthorizedClient) as caught:
        await server.endpoint.exchange(basic(web), request())
    assert caught.value.error == "unauthorized_client"


async def test_a_wrong_secret_is_invalid_client(server: OAuthServer) -> None:
    await server.add_service()
    with pytest.raises(InvalidClient):
        await server.endpoint.exchange(ClientCredentials(basic=("svc", "wrong")), request())
