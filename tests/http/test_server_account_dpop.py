"""The server's own APIs (``/auth/me`` and the rest of the account API) take a DPoP-bound
access token with the ``DPoP`` scheme and a proof by its key (RFC 9449 §7.1), whose ``htu``
is the route's URL under the issuer; they refuse the bound token sent as Bearer (§7.2), a
proof by another key, a replayed proof, and a proof for another route. Without credentials
the challenge offers both schemes."""

from __future__ import annotations

import secrets

import httpx

from ostiary.jose import JWK
from ostiary.jose.dpop import make_proof

from ._dpop import LOGIN_PATH, dpop, proof, url_of
from ._server import PASSWORD, Server

ME = "/auth/me"
KEY = JWK.generate("ES256")
OTHER_KEY = JWK.generate("ES256")


async def bound_token(server: Server) -> str:
    response = await server.client.post(
        LOGIN_PATH,
        json={"username": "alice", "password": PASSWORD},
        headers=dpop(proof(server, KEY, LOGIN_PATH)),
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    return str(response.json()["access_token"])


def me_proof(server: Server, key: JWK, token: str, *, path: str = ME) -> str:
    return make_proof(
        key,
        method="GET",
        url=url_of(server, path),
        jti=secrets.token_urlsafe(16),
        iat=int(server.clock.now()),
        access_token=token,
    )


async def me(server: Server, token: str, scheme: str, proof_value: str | None) -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof_value is not None:
        headers["DPoP"] = proof_value
    return await server.client.get(ME, headers=headers)


async def test_a_bound_token_with_its_proof_is_accepted(server: Server) -> None:
    token = await bound_token(server)
    response = await me(server, token, "DPoP", me_proof(server, KEY, token))
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "alice"


async def test_a_bound_token_sent_as_bearer_is_refused(server: Server) -> None:
    token = await bound_token(server)
    response = await me(server, token, "Bearer", None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("DPoP ")
    assert response.json()["error"] == "invalid_token"


async def test_a_proof_by_another_key_is_refused(server: Server) -> None:
    token = await bound_token(server)
    response = await me(server, token, "DPoP", me_proof(server, OTHER_KEY, token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'algs="' in response.headers["www-authenticate"]


async def test_a_replayed_proof_is_refused(server: Server) -> None:
    token = await bound_token(server)
    proof_value = me_proof(server, KEY, token)
    assert (await me(server, token, "DPoP", proof_value)).status_code == 200
    replayed = await me(server, token, "DPoP", proof_value)
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_dpop_proof"


async def test_a_proof_for_another_route_is_refused(server: Server) -> None:
    token = await bound_token(server)
    response = await me(server, token, "DPoP", me_proof(server, KEY, token, path="/auth/x"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_dpop_proof"


async def test_no_proof_is_refused(server: Server) -> None:
    token = await bound_token(server)
    response = await me(server, token, "DPoP", None)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_dpop_proof"


async def test_no_credentials_offers_both_schemes(server: Server) -> None:
    response = await server.client.get(ME)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="ostiary"')
    assert 'DPoP realm="ostiary"' in challenge
