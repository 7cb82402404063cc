"""Attack: proofs built to cost the token endpoint (RFC 9449 §11.1): a proof of a megabyte,
one just over the 4 KiB cap, a ``jti`` of thousands of characters, a hundred ``DPoP`` headers.
Each is refused with ``invalid_dpop_proof`` (or, for what the server's header limits catch
first, a 4xx), never a 500, and nothing is issued."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.jose import JWK
from ostiary.jose.dpop import DEFAULT_MAX_PROOF_SIZE, MAX_JTI_LENGTH
from tests.http._dpop import (
    client_credentials,
    proof,
    proof_claims,
    public_jwk,
    raw_proof,
)
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


def header(key: JWK) -> dict[str, object]:
    return {"typ": "dpop+jwt", "alg": key.alg, "jwk": public_jwk(key)}


async def test_a_proof_over_the_size_cap_is_refused(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    padding = "x" * (DEFAULT_MAX_PROOF_SIZE + 1)
    big = raw_proof(header(es256_key), proof_claims(server, pad=padding), es256_key)
    assert len(big) > DEFAULT_MAX_PROOF_SIZE
    response = await client_credentials(server, basic(svc), ("DPoP", big))
    assert (response.status_code, response.json()) == (400, REFUSED)


async def test_a_megabyte_proof_is_refused_without_a_500(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    huge = "a" * (1 << 20)
    response = await client_credentials(server, basic(svc), ("DPoP", huge))
    assert 400 <= response.status_code < 500
    assert "access_token" not in response.text


async def test_a_long_jti_is_refused(server: Server, svc: Registered, es256_key: JWK) -> None:
    claims = proof_claims(server, jti="j" * (MAX_JTI_LENGTH + 1))
    response = await client_credentials(
        server, basic(svc), ("DPoP", raw_proof(header(es256_key), claims, es256_key))
    )
    assert (response.status_code, response.json()) == (400, REFUSED)


async def test_many_dpop_headers_are_refused(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    proofs = [("DPoP", proof(server, es256_key)) for _ in range(100)]
    response = await client_credentials(server, basic(svc), *proofs)
    assert 400 <= response.status_code < 500
    assert "access_token" not in response.text


async def test_a_fresh_proof_after_the_attacks_is_accepted(
    server: Server, svc: Registered, es256_key: JWK
) -> None:
    """The refusals left no state behind that blocks the client."""
    await client_credentials(server, basic(svc), ("DPoP", "a" * 5000))
    jti = secrets.token_urlsafe(16)
    good = raw_proof(header(es256_key), proof_claims(server, jti=jti), es256_key)
    response = await client_credentials(server, basic(svc), ("DPoP", good))
    assert response.status_code == 200, response.text
