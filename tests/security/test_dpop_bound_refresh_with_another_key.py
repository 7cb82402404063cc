"""Attack: a stolen refresh token of a DPoP-bound session, used without the key (RFC 9449 §5).
Refresh tokens of public clients and first-party sessions are bound to the key of the proof
their login sent: the thief, with no proof or a proof by a key of their own, is refused, and
the refusal comes before the rotation, so that it neither hands over tokens nor burns the
victim's refresh token (no reuse detection is set off: the victim's next refresh works)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ostiary.authn.client_registry import Registered
from ostiary.jose import JWK
from ostiary.storage.records import ClientAuthMethod
from tests.http._dpop import LOGIN_PATH, REFRESH_PATH, TOKEN_PATH, dpop, proof
from tests.http._oauth import (
    REDIRECT,
    Pkce,
    authorization_code,
    authorize_query,
    claims_of,
    oauth_settings,
    web_client,
)
from tests.http._server import PASSWORD, Server, running

REFUSED = "invalid_dpop_proof"


@pytest.fixture(params=["memory", "sqlite"])
async def server(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """On memory storage and on SQLite: the refusal comes from each store's rotation."""
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'o.db'}"
    async with running(oauth_settings(tmp_path, database_url=url)) as srv:
        await srv.add_user("alice")
        yield srv


@pytest.fixture
async def spa(server: Server) -> Registered:
    return await web_client(server, "spa", auth_method=ClientAuthMethod.NONE)


async def oauth_refresh(
    server: Server, spa: Registered, refresh_token: str, key: JWK | None
) -> httpx.Response:
    headers = dpop(proof(server, key)) if key is not None else {}
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "spa"}
    return await server.client.post(TOKEN_PATH, data=data, headers=headers)


async def bound_tokens(server: Server, spa: Registered, key: JWK) -> dict[str, str]:
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query(spa.client.id, pkce))
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": pkce.verifier,
        "client_id": spa.client.id,
    }
    answer = await server.client.post(TOKEN_PATH, data=data, headers=dpop(proof(server, key)))
    assert answer.status_code == 200, answer.text
    tokens: dict[str, str] = answer.json()
    return tokens


@pytest.mark.parametrize("thief", ["no proof", "own key"])
async def test_a_public_clients_stolen_refresh_token_is_useless(
    server: Server, spa: Registered, es256_key: JWK, attacker_key: JWK, thief: str
) -> None:
    stolen = (await bound_tokens(server, spa, es256_key))["refresh_token"]
    attempt = await oauth_refresh(server, spa, stolen, attacker_key if thief == "own key" else None)
    assert (attempt.status_code, attempt.json()["error"]) == (400, REFUSED)
    assert "access_token" not in attempt.json()
    victim = await oauth_refresh(server, spa, stolen, es256_key)
    assert victim.status_code == 200, victim.text
    assert claims_of(victim.json()["access_token"])["cnf"] == {"jkt": es256_key.thumbprint()}


@pytest.mark.parametrize("thief", ["no proof", "own key"])
async def test_a_first_party_sessions_stolen_refresh_token_is_useless(
    server: Server, es256_key: JWK, attacker_key: JWK, thief: str
) -> None:
    login = await server.client.post(
        LOGIN_PATH,
        json={"username": "alice", "password": PASSWORD},
        headers=dpop(proof(server, es256_key, LOGIN_PATH)),
    )
    stolen = login.json()["refresh_token"]
    headers = dpop(proof(server, attacker_key, REFRESH_PATH)) if thief == "own key" else {}
    attempt = await server.client.post(
        REFRESH_PATH, json={"refresh_token": stolen}, headers=headers
    )
    assert (attempt.status_code, attempt.json()["error"]) == (400, REFUSED)
    victim = await server.client.post(
        REFRESH_PATH,
        json={"refresh_token": stolen},
        headers=dpop(proof(server, es256_key, REFRESH_PATH)),
    )
    assert victim.status_code == 200, victim.text


async def test_a_proof_by_the_key_for_another_endpoint_does_not_help(
    server: Server, spa: Registered, es256_key: JWK
) -> None:
    """A proof the victim sent to /auth/refresh, replayed at the token endpoint."""
    stolen = (await bound_tokens(server, spa, es256_key))["refresh_token"]
    captured = proof(server, es256_key, REFRESH_PATH)
    data = {"grant_type": "refresh_token", "refresh_token": stolen, "client_id": "spa"}
    attempt = await server.client.post(TOKEN_PATH, data=data, headers=dpop(captured))
    assert (attempt.status_code, attempt.json()["error"]) == (400, REFUSED)


async def test_a_retry_within_the_grace_window_still_needs_the_key(
    server: Server, es256_key: JWK, attacker_key: JWK
) -> None:
    """The grace window answers a retry of a just-used token with the same successor (for a
    client whose answer was lost): a thief who copied the token in flight gets nothing from it
    without the key, and the victim's retry still works."""
    assert server.settings.refresh_grace_seconds > 0
    login = await server.client.post(
        LOGIN_PATH,
        json={"username": "alice", "password": PASSWORD},
        headers=dpop(proof(server, es256_key, LOGIN_PATH)),
    )
    copied = login.json()["refresh_token"]
    used = await server.client.post(
        REFRESH_PATH,
        json={"refresh_token": copied},
        headers=dpop(proof(server, es256_key, REFRESH_PATH)),
    )
    assert used.status_code == 200, used.text
    for headers in ({}, dpop(proof(server, attacker_key, REFRESH_PATH))):
        thief = await server.client.post(
            REFRESH_PATH, json={"refresh_token": copied}, headers=headers
        )
        assert (thief.status_code, thief.json()["error"]) == (400, REFUSED)
    retry = await server.client.post(
        REFRESH_PATH,
        json={"refresh_token": copied},
        headers=dpop(proof(server, es256_key, REFRESH_PATH)),
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["refresh_token"] == used.json()["refresh_token"]
