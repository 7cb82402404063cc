"""Attack: audience injection into ``private_key_jwt`` client assertions (the 2025
disclosure behind draft-ietf-oauth-rfc7523bis; FAPI 2.0 Security Profile §5.3.2.1). A client
that signs an assertion for one authorization server may be tricked into naming another in
``aud`` (an array, or the other server's endpoint URL it was given as "the token endpoint");
a server that accepts any listed value, or its endpoint URLs, then accepts an assertion made
for someone else. ``aud`` must be this server's issuer identifier, one string, exactly."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostiary.authn.client_auth import JWT_BEARER_ASSERTION
from ostiary.jose import JWK, sign_compact
from tests.http._oauth import ISSUER, oauth_server, signed_service
from tests.http._server import Server, oauth

BAD_CLIENT = oauth("invalid_client", "Client authentication failed.")


@pytest.fixture
async def server(tmp_path: Path, es256_key: JWK) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        await signed_service(srv, es256_key)
        yield srv


def assertion(server: Server, key: JWK, aud: Any) -> str:
    now = int(server.clock.now())
    claims = {
        "iss": "signed",
        "sub": "signed",
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    return sign_compact(claims, key)


async def post_with(server: Server, path: str, signed: str) -> httpx.Response:
    data = {"client_assertion_type": JWT_BEARER_ASSERTION, "client_assertion": signed}
    if path == "/oauth/token":
        data["grant_type"] = "client_credentials"
    else:
        data["token"] = "anything"
    return await server.client.post(path, data=data)


@pytest.mark.parametrize(
    "aud",
    [
        [ISSUER, "https://other-as.example"],
        ["https://other-as.example", ISSUER],
        [ISSUER],
        f"{ISSUER}/oauth/token",
        f"{ISSUER}/oauth/introspect",
        f"{ISSUER}/",
        ISSUER.upper(),
    ],
    ids=[
        "issuer and a foreign value",
        "a foreign value and the issuer",
        "the issuer in an array",
        "token endpoint URL",
        "introspection endpoint URL",
        "issuer with a slash added",
        "issuer in another case",
    ],
)
@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
async def test_an_assertion_whose_aud_is_not_exactly_the_issuer_is_refused(
    server: Server, es256_key: JWK, aud: Any, path: str
) -> None:
    response = await post_with(server, path, assertion(server, es256_key, aud))
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
async def test_the_issuer_identifier_as_a_single_string_is_accepted(
    server: Server, es256_key: JWK, path: str
) -> None:
    response = await post_with(server, path, assertion(server, es256_key, ISSUER))
    assert response.status_code == 200, response.text
