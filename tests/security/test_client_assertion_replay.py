"""Attack: a ``private_key_jwt`` client assertion replayed (RFC 7523 §3 item 7, OpenID
Connect Core §9). An assertion captured in transit or from a log is a bearer credential until
it expires; its ``jti`` is remembered, so a second presentation, at any client endpoint, is
refused. Assertions live five minutes at most, so the memory of ``jti`` values stays small."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostiary.authn.client_auth import JWT_BEARER_ASSERTION
from ostiary.jose import JWK, sign_compact
from ostiary.jose.inspect import inspect_compact
from tests.http._oauth import ISSUER, oauth_server, signed_service
from tests.http._server import Server, oauth

BAD_CLIENT = oauth("invalid_client", "Client authentication failed.")


@pytest.fixture
async def server(tmp_path: Path, es256_key: JWK) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        await signed_service(srv, es256_key)
        yield srv


def assertion(server: Server, key: JWK, **changes: Any) -> str:
    now = int(server.clock.now())
    claims: dict[str, Any] = {
        "iss": "signed",
        "sub": "signed",
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(changes)
    return sign_compact({k: v for k, v in claims.items() if v is not ...}, key)


async def token_with(server: Server, signed: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER_ASSERTION,
        "client_assertion": signed,
    }
    return await server.client.post("/oauth/token", data=data)


async def test_a_replayed_assertion_is_refused(server: Server, es256_key: JWK) -> None:
    signed = assertion(server, es256_key)
    first = await token_with(server, signed)
    assert first.status_code == 200, first.text
    replay = await token_with(server, signed)
    assert (replay.status_code, replay.json()) == (401, BAD_CLIENT)
    assert replay.headers["www-authenticate"] == 'Basic realm="ostiary"'
    # A fresh assertion (new jti) works: the refusal is the replay, not the client.
    assert (await token_with(server, assertion(server, es256_key))).status_code == 200


async def test_the_same_jti_in_a_new_assertion_is_refused(server: Server, es256_key: JWK) -> None:
    assert (await token_with(server, assertion(server, es256_key, jti="j-1"))).status_code == 200
    server.clock.advance(5)
    again = await token_with(server, assertion(server, es256_key, jti="j-1"))
    assert (again.status_code, again.json()) == (401, BAD_CLIENT)


async def test_a_replay_at_another_endpoint_is_refused(server: Server, es256_key: JWK) -> None:
    signed = assertion(server, es256_key, aud=ISSUER)
    assert (await token_with(server, signed)).status_code == 200
    data = {
        "token": "anything",
        "client_assertion_type": JWT_BEARER_ASSERTION,
        "client_assertion": signed,
    }
    for path in ("/oauth/introspect", "/oauth/revoke"):
        response = await server.client.post(path, data=data)
        assert (response.status_code, response.json()) == (401, BAD_CLIENT)


@pytest.mark.parametrize(
    "changes",
    [
        {"jti": ...},
        {"jti": ""},
        {"jti": 42},
        {"exp": ...},
        {"exp": "later"},
    ],
    ids=["no jti", "empty jti", "numeric jti", "no exp", "string exp"],
)
async def test_an_assertion_that_cannot_be_remembered_is_refused(
    server: Server, es256_key: JWK, changes: dict[str, Any]
) -> None:
    response = await token_with(server, assertion(server, es256_key, **changes))
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


async def test_a_long_lived_assertion_is_refused(server: Server, es256_key: JWK) -> None:
    # Otherwise its jti would have to be remembered for as long.
    now = int(server.clock.now())
    response = await token_with(server, assertion(server, es256_key, exp=now + 3600))
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


async def test_an_expired_assertion_is_refused(server: Server, es256_key: JWK) -> None:
    signed = assertion(server, es256_key)
    server.clock.advance(60 + 30 + 1)
    response = await token_with(server, signed)
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


@pytest.mark.parametrize("aud", ["https://other-idp.example", f"{ISSUER}/oauth/userinfo"])
async def test_an_assertion_for_another_audience_is_refused(
    server: Server, es256_key: JWK, aud: str
) -> None:
    response = await token_with(server, assertion(server, es256_key, aud=aud))
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


@pytest.mark.parametrize("kid", ["own", "registered"])
async def test_an_assertion_signed_by_another_key_is_refused(
    server: Server, es256_key: JWK, attacker_key: JWK, kid: str
) -> None:
    signed = assertion(server, attacker_key)
    if kid == "registered":  # the attacker's signature under the client's kid
        header, claims = inspect_compact(signed)
        signed = sign_compact(claims, attacker_key, headers={"kid": es256_key.kid})
        assert header["kid"] != es256_key.kid
    response = await token_with(server, signed)
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)
