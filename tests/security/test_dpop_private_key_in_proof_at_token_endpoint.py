"""Attack: a DPoP proof whose ``jwk`` header carries private key material (RFC 9449 §4.3
step 7). A client that leaks its private key in every request has no proof of possession left;
a server that accepted it would bind tokens to a key anyone on the path now holds. Refused,
whichever private member is there, and nothing is issued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.jose import JWK
from tests.http._dpop import client_credentials, proof_claims, public_jwk, raw_proof
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


def with_private(key: JWK) -> dict[str, Any]:
    """The key's JWK with its private members, as a careless client would embed it."""
    return {k: v for k, v in key.private_dict().items() if k not in ("kid", "alg", "use")}


@pytest.mark.parametrize("key_name", ["es256_key", "rs256_key", "eddsa_key"])
async def test_a_proof_carrying_the_whole_private_key_is_refused(
    server: Server, svc: Registered, key_name: str, request: pytest.FixtureRequest
) -> None:
    key: JWK = request.getfixturevalue(key_name)
    header = {"typ": "dpop+jwt", "alg": key.alg, "jwk": with_private(key)}
    leaked = raw_proof(header, proof_claims(server), key)
    response = await client_credentials(server, basic(svc), ("DPoP", leaked))
    assert (response.status_code, response.json()) == (400, REFUSED)


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
async def test_any_one_private_member_is_enough_to_refuse(
    server: Server, svc: Registered, es256_key: JWK, member: str
) -> None:
    jwk = {**public_jwk(es256_key), member: "AQAB"}
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
    response = await client_credentials(
        server, basic(svc), ("DPoP", raw_proof(header, proof_claims(server), es256_key))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


async def test_the_same_proof_with_the_public_key_is_accepted(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(es256_key)}
    response = await client_credentials(
        server, basic(svc), ("DPoP", raw_proof(header, proof_claims(server), es256_key))
    )
    assert response.status_code == 200, response.text
