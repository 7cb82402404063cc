"""Attack: a DPoP proof made for another request (RFC 9449 §4.3 steps 8-9): another method
(``htm``), another endpoint of the same server (``htu``), or the server's own endpoint under
the name the attacker put in ``Host``. The proof binds one method and one URL, which the server
takes from its issuer, never from the request: each is refused before anything is issued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.jose import JWK
from tests.http._dpop import TOKEN_PATH, client_credentials, proof, url_of
from tests.http._oauth import basic, oauth_server, service_client
from tests.http._server import Server, oauth

REFUSED = oauth("invalid_dpop_proof", "The DPoP proof is invalid.")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        yield srv


@pytest.fixture
async def svc(server: Server) -> Registered:
    return await service_client(server)


@pytest.mark.parametrize("method", ["GET", "post", "PUT"])
async def test_a_proof_for_another_method_is_refused(
    server: Server, svc: Registered, es256_key: JWK, method: str
) -> None:
    response = await client_credentials(
        server, basic(svc), ("DPoP", proof(server, es256_key, method=method))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


@pytest.mark.parametrize(
    "path", ["/auth/login", "/auth/refresh", "/oauth/introspect", "/oauth/token/", "/OAUTH/token"]
)
async def test_a_proof_for_another_endpoint_is_refused(
    server: Server, svc: Registered, es256_key: JWK, path: str
) -> None:
    response = await client_credentials(
        server, basic(svc), ("DPoP", proof(server, es256_key, path))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


async def test_the_same_url_in_another_spelling_is_accepted(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    """RFC 9449 §4.3 step 9 compares URIs normalized (RFC 3986 §6.2.2-6.2.3); query and
    fragment are ignored."""
    spelled = "HTTP://LOCALHOST:80/oauth/%74oken?x=1"
    response = await client_credentials(
        server, basic(svc), ("DPoP", proof(server, es256_key, url=spelled))
    )
    assert response.status_code == 200, response.text


async def test_a_spoofed_host_header_does_not_move_the_url(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    """An attacker who can make the server see ``Host: evil.example`` cannot have a proof made
    for ``http://evil.example/oauth/token`` accepted; the real URL stays good."""
    evil = proof(server, es256_key, url="http://evil.example/oauth/token")
    refused = await server.client.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        auth=basic(svc),
        headers={"DPoP": evil, "Host": "evil.example"},
    )
    assert (refused.status_code, refused.json()) == (400, REFUSED)
    honest = await server.client.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        auth=basic(svc),
        headers={"DPoP": proof(server, es256_key), "Host": "evil.example"},
    )
    assert honest.status_code == 200, honest.text
    assert url_of(server, TOKEN_PATH) == "http://localhost/oauth/token"


async def test_two_proofs_in_one_request_are_refused(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    """§4.3 step 1: exactly one ``DPoP`` header; which of two would bind the token?"""
    response = await client_credentials(
        server,
        basic(svc),
        ("DPoP", proof(server, es256_key)),
        ("DPoP", proof(server, es256_key)),
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_dpop_proof")
