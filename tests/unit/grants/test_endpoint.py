"""The token endpoint's pipeline (RFC 6749 §3.2): grant_type, client authentication, the
grant, the client's right to it; password and implicit refused (RFC 9700)."""

from __future__ import annotations

import pytest

from ostiary.authn.client_auth import JWT_BEARER_ASSERTION, ClientCredentials
from ostiary.authn.client_settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientSettings,
)
from ostiary.errors import (
    InvalidClient,
    InvalidRequest,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from ostiary.grants.base import OAuthParams
from ostiary.jose import JWK
from ostiary.storage.records import ClientAuthMethod
from tests.unit.grants._server import AUDIENCE, ISSUER, T0, OAuthServer, basic, sign_raw


def request(grant_type: str | None, **params: str) -> OAuthParams:
    if grant_type is not None:
        params["grant_type"] = grant_type
    return OAuthParams(params)


def test_the_endpoint_lists_its_grant_types(server: OAuthServer) -> None:
    assert server.endpoint.grant_types == [AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN]


async def test_a_missing_grant_type_is_invalid_request_before_anything_else(
    server: OAuthServer,
) -> None:
    for grant_type in (None, ""):
        with pytest.raises(InvalidRequest, match="grant_type"):
            await server.endpoint.exchange(ClientCredentials(), request(grant_type))


@pytest.mark.parametrize(
    ("grant_type", "description"),
    [
        ("password", "The password grant is not supported (RFC 9700 §2.4)."),
        ("implicit", "The implicit flow is not supported (RFC 9700 §2.1.2)."),
        ("urn:ietf:params:oauth:grant-type:device_code", UnsupportedGrantType.description),
        ("x" * 500, UnsupportedGrantType.description),
    ],
)
async def test_grant_types_the_endpoint_does_not_have_are_unsupported(
    server: OAuthServer, grant_type: str, description: str
) -> None:
    svc = await server.add_service()
    with pytest.raises(UnsupportedGrantType) as caught:
        await server.endpoint.exchange(
            basic(svc), request(grant_type, username="alice", password="pw")
        )
    assert caught.value.error == "unsupported_grant_type"
    assert caught.value.description == description
    assert len(caught.value.detail or "") < 100


async def test_the_client_is_authenticated_before_the_grant_type_is_judged(
    server: OAuthServer,
) -> None:
    await server.add_service()
    with pytest.raises(InvalidClient):
        await server.endpoint.exchange(
            ClientCredentials(basic=("svc", "wrong")), request("password")
        )
    with pytest.raises(InvalidClient):
        await server.endpoint.exchange(ClientCredentials(basic=("nobody", "x")), request("x"))


async def test_two_authentication_methods_are_invalid_request(server: OAuthServer) -> None:
    svc = await server.add_service()
    assert svc.secret is not None
    both = ClientCredentials(basic=("svc", svc.secret), client_id="svc", client_secret=svc.secret)
    with pytest.raises(InvalidRequest, match="one client authentication method"):
        await server.endpoint.exchange(both, request(CLIENT_CREDENTIALS))


@pytest.mark.parametrize(
    ("grant_type", "params"),
    [
        (AUTHORIZATION_CODE, {"code": "c", "code_verifier": "v"}),
        (REFRESH_TOKEN, {"refresh_token": "r"}),
    ],
)
async def test_a_grant_the_client_is_not_registered_for_is_unauthorized(
    server: OAuthServer, grant_type: str, params: dict[str, str]
) -> None:
    svc = await server.add_service()
    with pytest.raises(UnauthorizedClient) as caught:
        await server.endpoint.exchange(basic(svc), request(grant_type, **params))
    assert caught.value.error == "unauthorized_client"
    assert grant_type in (caught.value.detail or "")


async def test_each_grant_type_reaches_its_grant(server: OAuthServer) -> None:
    svc = await server.add_service()
    web = await server.add_web_app()
    alice = await server.add_user()
    by_client = await server.endpoint.exchange(basic(svc), request(CLIENT_CREDENTIALS))
    assert by_client.refresh_token is None
    by_code = await server.redeem(web, await server.code_for(web, alice))
    assert by_code.id_token is not None and by_code.refresh_token is not None
    by_refresh = await server.refresh_with(web, by_code.refresh_token)
    assert by_refresh.refresh_token not in (None, by_code.refresh_token)


async def test_a_private_key_jwt_client_gets_a_token(server: OAuthServer) -> None:
    key = JWK.generate("ES256")
    await server.clients.create(
        ClientSettings(
            name="Signed service",
            auth_method=ClientAuthMethod.PRIVATE_KEY_JWT,
            jwks={"keys": [key.public_dict()]},
            scopes=frozenset({"orders:read"}),
            audiences=frozenset({AUDIENCE}),
        ),
        client_id="signed",
    )
    claims = {
        "iss": "signed",
        "sub": "signed",
        "aud": ISSUER,
        "exp": int(T0) + 60,
        "jti": "once",
    }
    assertion = sign_raw({"alg": "ES256", "kid": key.kid}, claims, key)
    credentials = ClientCredentials(
        client_assertion_type=JWT_BEARER_ASSERTION, client_assertion=assertion
    )
    response = await server.endpoint.exchange(credentials, request(CLIENT_CREDENTIALS))
    assert (await server.verifier().verify(response.access.token)).client_id == "signed"
    with pytest.raises(InvalidClient):  # the same assertion again
        await server.endpoint.exchange(credentials, request(CLIENT_CREDENTIALS))
