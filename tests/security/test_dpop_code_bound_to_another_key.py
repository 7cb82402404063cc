"""Attack: an authorization code injected or stolen from a flow bound to a DPoP key with
``dpop_jkt`` (RFC 9449 §10). The code is redeemed only with a proof signed by the key the
authorization request named: with no proof, or a proof by the attacker's key, the exchange is
refused and nothing is issued; the code is spent like one sent with a wrong PKCE verifier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ostiary.authn.client_registry import Registered
from ostiary.jose import JWK
from ostiary.storage.records import ClientAuthMethod
from tests.http._dpop import TOKEN_PATH, dpop, proof
from tests.http._oauth import (
    REDIRECT,
    Pkce,
    authorization_code,
    authorize_query,
    oauth_server,
    web_client,
)
from tests.http._server import Server, oauth

KEY_MISMATCH = oauth(
    "invalid_dpop_proof",
    "The DPoP proof is not signed by the key the authorization code is bound to.",
)
NO_PROOF = oauth(
    "invalid_dpop_proof",
    "The authorization code is bound to a DPoP key: send a proof signed by it.",
)
SPENT = oauth("invalid_grant", "The grant is invalid, expired or revoked.")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        yield srv


@pytest.fixture
async def spa(server: Server) -> Registered:
    return await web_client(server, "spa", auth_method=ClientAuthMethod.NONE)


async def exchange(server: Server, code: str, pkce: Pkce, key: JWK | None) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": pkce.verifier,
        "client_id": "spa",
    }
    headers = dpop(proof(server, key)) if key is not None else {}
    return await server.client.post(TOKEN_PATH, data=data, headers=headers)


@pytest.mark.parametrize(("thief", "answer"), [("own key", KEY_MISMATCH), ("no proof", NO_PROOF)])
async def test_a_bound_code_is_refused_without_its_key(
    server: Server,
    spa: Registered,
    es256_key: JWK,
    attacker_key: JWK,
    thief: str,
    answer: dict[str, str],
) -> None:
    pkce = Pkce.new()
    query = authorize_query(spa.client.id, pkce, dpop_jkt=es256_key.thumbprint())
    code = await authorization_code(server, query)
    attempt = await exchange(server, code, pkce, attacker_key if thief == "own key" else None)
    assert (attempt.status_code, attempt.json()) == (400, answer)
    after = await exchange(server, code, pkce, es256_key)
    assert (after.status_code, after.json()) == (400, SPENT)


async def test_the_key_the_request_named_redeems_it(
    server: Server, spa: Registered, es256_key: JWK
) -> None:
    pkce = Pkce.new()
    query = authorize_query(spa.client.id, pkce, dpop_jkt=es256_key.thumbprint())
    code = await authorization_code(server, query)
    response = await exchange(server, code, pkce, es256_key)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
