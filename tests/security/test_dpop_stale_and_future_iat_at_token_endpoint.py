"""Attack: a proof used outside its moment at the token endpoint (RFC 9449 §4.3 step 11,
§11.1): an old proof dug out of a log, or one pre-computed with an ``iat`` in the future
(§11.2) so that it stays usable after the key is gone. The server accepts a proof from 5 s
before its ``iat`` until 60 s (``OSTIARY_DPOP_PROOF_MAX_AGE``) plus 5 s after: outside that
window, ``invalid_dpop_proof`` and no token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.jose import JWK
from ostiary.jose.dpop import DEFAULT_PROOF_LEEWAY, DEFAULT_PROOF_MAX_AGE
from tests.http._dpop import client_credentials, proof
from tests.http._oauth import basic, oauth_server, service_client
from tests.http._server import Server, oauth

REFUSED = oauth("invalid_dpop_proof", "The DPoP proof is invalid.")
OLDEST = DEFAULT_PROOF_MAX_AGE + DEFAULT_PROOF_LEEWAY


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        yield srv


@pytest.fixture
async def svc(server: Server) -> Registered:
    return await service_client(server)


@pytest.mark.parametrize("age", [OLDEST + 1, 3600, 10**9])
async def test_a_stale_proof_is_refused(
    server: Server, svc: Registered, es256_key: JWK, age: int
) -> None:
    now = int(server.clock.now())
    response = await client_credentials(
        server, basic(svc), ("DPoP", proof(server, es256_key, iat=now - age))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


@pytest.mark.parametrize("ahead", [DEFAULT_PROOF_LEEWAY + 1, 3600, 10**9])
async def test_a_proof_from_the_future_is_refused(
    server: Server, svc: Registered, es256_key: JWK, ahead: int
) -> None:
    now = int(server.clock.now())
    response = await client_credentials(
        server, basic(svc), ("DPoP", proof(server, es256_key, iat=now + ahead))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


@pytest.mark.parametrize("offset", [-(OLDEST - 1), 0, DEFAULT_PROOF_LEEWAY])
async def test_a_proof_inside_the_window_is_accepted(
    server: Server, svc: Registered, es256_key: JWK, offset: int
) -> None:
    now = int(server.clock.now())
    response = await client_credentials(
        server, basic(svc), ("DPoP", proof(server, es256_key, iat=now + offset))
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
