"""Attack: a DPoP proof made for another server (RFC 9449 §4.3 step 9, §11.1): a malicious or
compromised authorization server, or a resource server, that a client sent a proof to replays
it here to obtain tokens bound to the client's key. The proof names the URL it was made for;
here it must name this server's token endpoint, under ``OSTIARY_ISSUER``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.jose import JWK
from tests.http._dpop import TOKEN_PATH, client_credentials, proof
from tests.http._oauth import basic, service_client
from tests.http._server import Server, oauth, running, settings_for

REFUSED = oauth("invalid_dpop_proof", "The DPoP proof is invalid.")
ISSUER = "https://auth.example.com/tenant-a"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """An issuer with a path, on a host the test client does not use: only the issuer's
    URL counts."""
    async with running(settings_for(tmp_path, issuer=ISSUER)) as srv:
        yield srv


@pytest.fixture
async def svc(server: Server) -> Registered:
    return await service_client(server)


@pytest.mark.parametrize(
    "url",
    [
        "https://other-as.example.com/oauth/token",  # another authorization server
        "https://auth.example.com/tenant-b/oauth/token",  # another tenant of the same host
        "https://auth.example.com/oauth/token",  # the host without the issuer's path
        "https://auth.example.com.evil.example/tenant-a/oauth/token",
        "http://auth.example.com/tenant-a/oauth/token",  # the scheme matters
        "https://auth.example.com:8443/tenant-a/oauth/token",  # and the port
        "https://api.example.com/orders",  # a resource server's proof
        "http://localhost/oauth/token",  # where the test client really sends it
    ],
)
async def test_a_proof_for_another_url_is_refused(
    server: Server, svc: Registered, es256_key: JWK, url: str
) -> None:
    response = await client_credentials(
        server, basic(svc), ("DPoP", proof(server, es256_key, url=url))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


async def test_a_proof_for_this_servers_token_endpoint_is_accepted(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    url = f"{ISSUER}{TOKEN_PATH}"
    response = await client_credentials(
        server, basic(svc), ("DPoP", proof(server, es256_key, url=url))
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
