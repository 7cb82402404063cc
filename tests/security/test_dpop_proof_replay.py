"""Attack: a DPoP proof replayed (RFC 9449 §11.1). A proof captured in transit or from a log is
good for a minute; its ``jti`` is remembered, per key, in the storage's OnceStore, which every
worker and instance shares: a second presentation, here or at another instance, is refused.
The proofs' entries live apart from the client assertions' (the ``scope`` of the checker), so
neither can block the other."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.authn.client_auth import JWT_BEARER_ASSERTION
from ostiary.jose import JWK, sign_compact
from ostiary.jose.dpop import make_proof
from ostiary.wiring import DPOP_REPLAY_SCOPE
from tests.http._dpop import TOKEN_PATH, client_credentials, dpop, proof, url_of
from tests.http._oauth import (
    ISSUER,
    basic,
    oauth_server,
    oauth_settings,
    service_client,
    signed_service,
)
from tests.http._server import Server, oauth, running

REPLAYED = oauth("invalid_dpop_proof", "The DPoP proof is invalid.")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        await service_client(srv)
        yield srv


async def test_a_replayed_proof_is_refused(server: Server, es256_key: JWK) -> None:
    registered = await server.services.oauth.clients.rotate_secret("svc")
    captured = proof(server, es256_key)
    first = await client_credentials(server, basic(registered), ("DPoP", captured))
    assert first.status_code == 200, first.text
    replay = await client_credentials(server, basic(registered), ("DPoP", captured))
    assert (replay.status_code, replay.json()) == (400, REPLAYED)
    # Until the proof could no longer be accepted anyway.
    server.clock.advance(server.settings.dpop_proof_max_age)
    again = await client_credentials(server, basic(registered), ("DPoP", captured))
    assert (again.status_code, again.json()) == (400, REPLAYED)


async def test_a_proof_refused_for_another_reason_is_not_remembered(
    server: Server, es256_key: JWK
) -> None:
    """A request refused before the proof is checked (a bad client secret) must not burn it."""
    registered = await server.services.oauth.clients.rotate_secret("svc")
    captured = proof(server, es256_key)
    bad = await client_credentials(server, ("svc", "x" * 43), ("DPoP", captured))
    assert bad.status_code == 401
    good = await client_credentials(server, basic(registered), ("DPoP", captured))
    assert good.status_code == 200, good.text


async def test_a_proof_replayed_at_another_instance_is_refused(
    tmp_path: Path, es256_key: JWK
) -> None:
    settings = oauth_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'shared.db'}")
    async with running(settings) as first, running(settings, clock=first.clock) as second:
        registered = await service_client(first)
        captured = proof(first, es256_key)
        used = await client_credentials(first, basic(registered), ("DPoP", captured))
        assert used.status_code == 200, used.text
        replay = await client_credentials(second, basic(registered), ("DPoP", captured))
        assert (replay.status_code, replay.json()) == (400, REPLAYED)


async def test_proof_entries_never_collide_with_client_assertions(
    server: Server, es256_key: JWK, eddsa_key: JWK
) -> None:
    """A client assertion and a DPoP proof with the same ``jti``, in one request and in the
    one OnceStore: both are remembered, neither is taken for the other's replay."""
    await signed_service(server, es256_key)
    jti = secrets.token_urlsafe(16)
    now = int(server.clock.now())
    assertion = sign_compact(
        {"iss": "signed", "sub": "signed", "aud": ISSUER, "iat": now, "exp": now + 60, "jti": jti},
        es256_key,
    )
    same_jti = make_proof(
        eddsa_key, method="POST", url=url_of(server, TOKEN_PATH), jti=jti, iat=now
    )
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER_ASSERTION,
        "client_assertion": assertion,
    }
    response = await server.client.post(TOKEN_PATH, data=data, headers=dpop(same_jti))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert not DPOP_REPLAY_SCOPE.startswith("assertion")
