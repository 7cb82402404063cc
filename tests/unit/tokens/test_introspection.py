"""Token revocation (RFC 7009) and introspection (RFC 7662): a client acts on its own tokens,
and learns nothing of anyone else's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.authn.passwords import PasswordHasher
from ostiary.clock import FrozenClock
from ostiary.errors import InvalidGrant, Revoked
from ostiary.grants.base import IssuedTokens, OAuthParams
from ostiary.jose import JWK, sign_compact
from ostiary.storage.records import RevocationKind, User
from ostiary.tokens.access import ACCESS_TOKEN_TYP
from tests.unit.grants._server import (
    AUDIENCE,
    ISSUER,
    ORDERS,
    SERVER_AUDIENCES,
    SIGNING_KEY,
    OAuthServer,
    basic,
)
from tests.unit.tokens.conftest import T0

DAY = 86_400.0
INACTIVE = {"active": False}


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    hasher = PasswordHasher(memory_cost=1024, time_cost=1, workers=1)
    yield hasher
    hasher.close()


@pytest.fixture
async def server(clock: FrozenClock, hasher: PasswordHasher) -> OAuthServer:
    return await OAuthServer.build(clock, hasher)


@pytest.fixture
async def web(server: OAuthServer) -> Registered:
    return await server.add_web_app(audiences=frozenset({AUDIENCE}))


@pytest.fixture
async def other(server: OAuthServer) -> Registered:
    return await server.add_web_app("other")


@pytest.fixture
async def alice(server: OAuthServer) -> User:
    return await server.add_user()


@pytest.fixture
async def issued(server: OAuthServer, web: Registered, alice: User) -> IssuedTokens:
    return await server.redeem(web, await server.code_for(web, alice, scope="openid profile"))


def refresh_token_of(response: IssuedTokens) -> str:
    assert response.refresh_token is not None
    return response.refresh_token


def forged(claims: dict[str, Any], key: JWK = SIGNING_KEY, typ: str = ACCESS_TOKEN_TYP) -> str:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "usr_alice",
        "aud": AUDIENCE,
        "exp": int(T0) + 900,
        "iat": int(T0),
        "jti": "forged",
        "client_id": "web",
        "scope": "openid",
    }
    return sign_compact({**base, **claims}, key, typ=typ)


# --- introspecting access tokens ---------------------------------------------------------------


async def test_an_own_access_token_is_active_with_its_metadata(
    server: OAuthServer, web: Registered, issued: IssuedTokens, alice: User
) -> None:
    answer = await server.inspector.introspect(issued.access.token, web.client)
    claims = await server.verifier().verify(issued.access.token)
    assert answer == {
        "active": True,
        "token_type": "Bearer",
        "scope": "openid profile",
        "client_id": "web",
        "sub": alice.id,
        "aud": [AUDIENCE, SERVER_AUDIENCES.userinfo],  # its API, and UserInfo for openid
        "iss": ISSUER,
        "exp": int(T0) + 900,
        "iat": int(T0),
        "jti": issued.access.jti,
        "sid": claims.sid,
    }


async def test_a_dpop_bound_token_is_introspected_with_its_cnf(server: OAuthServer) -> None:
    """RFC 9449 §6.2: ``cnf.jkt``, and ``token_type: DPoP``."""
    jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    bound = forged({"cnf": {"jkt": jkt}})
    web = await server.add_web_app("web", audiences=frozenset({AUDIENCE}))
    answer = await server.inspector.introspect(bound, web.client)
    assert answer["active"] is True
    assert (answer["token_type"], answer["cnf"]) == ("DPoP", {"jkt": jkt})
    unbound = await server.inspector.introspect(forged({}), web.client)
    assert unbound["token_type"] == "Bearer" and "cnf" not in unbound


async def test_a_refresh_token_bound_to_a_key_is_introspected_with_its_cnf(
    server: OAuthServer, alice: User
) -> None:
    jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    web = await server.add_web_app("web", audiences=frozenset({AUDIENCE}))
    started = await server.refresh.start(
        user_id=alice.id, client_id="web", scope="openid", dpop_jkt=jkt
    )
    answer = await server.inspector.introspect(started.token, web.client)
    assert (answer["token_type"], answer["cnf"]) == ("refresh_token", {"jkt": jkt})


async def test_a_client_credentials_token_has_no_sid(server: OAuthServer) -> None:
    svc = await server.add_service()
    response = await server.endpoint.exchange(
        basic(svc), OAuthParams({"grant_type": "client_credentials"})
    )
    answer = await server.inspector.introspect(response.access.token, svc.client)
    assert answer["active"] is True and "sid" not in answer
    assert answer["aud"] == sorted(svc.client.audiences)


async def test_another_clients_access_token_is_inactive(
    server: OAuthServer, other: Registered, issued: IssuedTokens
) -> None:
    assert await server.inspector.introspect(issued.access.token, other.client) == INACTIVE


async def test_a_resource_server_sees_tokens_meant_for_its_audience(
    server: OAuthServer, issued: IssuedTokens
) -> None:
    api = await server.add_service("api", audiences=frozenset({AUDIENCE}))
    orders = await server.add_service("orders", audiences=frozenset({ORDERS}))
    assert (await server.inspector.introspect(issued.access.token, api.client))["active"] is True
    assert await server.inspector.introspect(issued.access.token, orders.client) == INACTIVE


async def test_an_expired_or_revoked_access_token_is_inactive(
    server: OAuthServer, web: Registered, issued: IssuedTokens, alice: User
) -> None:
    second = await server.redeem(web, await server.code_for(web, alice))
    await server.revocations.revoke_token(second.access.jti, second.access.expires_at)
    assert await server.inspector.introspect(second.access.token, web.client) == INACTIVE
    server.clock.advance(900 + 29)  # within the leeway
    assert (await server.inspector.introspect(issued.access.token, web.client))["active"]
    server.clock.advance(1)
    assert await server.inspector.introspect(issued.access.token, web.client) == INACTIVE


async def test_an_id_token_is_never_an_active_access_token(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    assert issued.id_token is not None
    assert await server.inspector.introspect(issued.id_token, web.client) == INACTIVE
    assert await server.inspector.access_claims(issued.id_token) is None


async def test_forged_access_tokens_are_inactive(server: OAuthServer, web: Registered) -> None:
    assert (await server.inspector.introspect(forged({}), web.client))["active"] is True
    stranger = JWK.generate("ES256")
    for token in (
        forged({}, key=stranger),  # unknown key
        forged({"iss": "https://evil.example"}),
        forged({}, typ="JWT"),
        forged({"aud": 42}),
        forged({"aud": []}),
        forged({"aud": [["nested"]]}),
        forged({"aud": ""}),
        forged({"exp": int(T0) - 60}),
        forged({"client_id": None}),
        forged({"jti": 7}),
    ):
        assert await server.inspector.introspect(token, web.client) == INACTIVE


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "a.b.c",
        "a.b",
        "e30.e30.e30",
        "\u00e9.\u00e9.\u00e9",
        "\u00e9t\u00e9",
        "x" * 300,
        "x" * 9000,
        "x.y" * 3000,
    ],
)
async def test_garbage_is_exactly_inactive(
    server: OAuthServer, web: Registered, token: str
) -> None:
    answer = await server.inspector.introspect(token, web.client)
    assert answer == {"active": False}
    answer["active"] = True  # the caller's copy: the next answer is unaffected
    assert await server.inspector.introspect(token, web.client) == {"active": False}


# --- introspecting refresh tokens --------------------------------------------------------------


async def test_an_own_refresh_token_is_active_with_its_metadata(
    server: OAuthServer, web: Registered, issued: IssuedTokens, alice: User
) -> None:
    token = refresh_token_of(issued)
    server.clock.advance(100)
    answer = await server.inspector.introspect(token, web.client)
    found = await server.refresh.find(token)
    assert found is not None
    assert answer == {
        "active": True,
        "token_type": "refresh_token",
        "scope": "openid profile",
        "client_id": "web",
        "sub": alice.id,
        "iat": int(T0),
        "exp": int(T0 + 7 * DAY),  # the idle timeout comes before the absolute end
        "sid": found[1].id,
    }


async def test_another_clients_refresh_token_is_inactive(
    server: OAuthServer, other: Registered, issued: IssuedTokens
) -> None:
    assert await server.inspector.introspect(refresh_token_of(issued), other.client) == INACTIVE


async def test_a_used_refresh_token_is_inactive_and_its_successor_active(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    old = refresh_token_of(issued)
    rotated = await server.refresh_with(web, old)
    assert await server.inspector.introspect(old, web.client) == INACTIVE
    answer = await server.inspector.introspect(refresh_token_of(rotated), web.client)
    assert answer["active"] is True


async def test_a_refresh_token_of_a_revoked_family_is_inactive(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    token = refresh_token_of(issued)
    found = await server.refresh.find(token)
    assert found is not None
    await server.refresh.revoke_session(found[1].id)
    assert await server.inspector.introspect(token, web.client) == INACTIVE


async def test_an_idle_refresh_token_is_inactive(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    token = refresh_token_of(issued)
    server.clock.advance(7 * DAY)
    assert (await server.inspector.introspect(token, web.client))["active"] is True
    server.clock.advance(1)
    assert await server.inspector.introspect(token, web.client) == INACTIVE


async def test_a_refresh_token_past_the_absolute_end_is_inactive(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    token = refresh_token_of(issued)
    for _ in range(4):  # kept in use, never idle: 24 days
        server.clock.advance(6 * DAY)
        token = refresh_token_of(await server.refresh_with(web, token))
    answer = await server.inspector.introspect(token, web.client)
    assert answer["exp"] == int(T0 + 30 * DAY)  # now the absolute end comes first
    server.clock.set(T0 + 30 * DAY - 1)
    assert (await server.inspector.introspect(token, web.client))["active"] is True
    server.clock.advance(1)
    assert await server.inspector.introspect(token, web.client) == INACTIVE


# --- revocation --------------------------------------------------------------------------------


async def test_revoking_a_refresh_token_ends_its_family_and_its_access_tokens(
    server: OAuthServer, web: Registered, issued: IssuedTokens, alice: User
) -> None:
    unrelated = await server.redeem(web, await server.code_for(web, alice))
    token = refresh_token_of(issued)
    await server.revocation.revoke(token, web.client)
    with pytest.raises(Revoked):
        await server.verifier().verify(issued.access.token)
    with pytest.raises(InvalidGrant):
        await server.refresh_with(web, token)
    assert await server.inspector.introspect(issued.access.token, web.client) == INACTIVE
    found = await server.refresh.find(token)
    assert found is not None and found[1].revoked_at == T0
    entries = await server.storage.revocations.since(0)
    assert [(e.kind, e.value) for e in entries] == [(RevocationKind.SESSION, found[1].id)]
    # Another family of the same user and client lives on.
    await server.verifier().verify(unrelated.access.token)
    await server.refresh_with(web, refresh_token_of(unrelated))


async def test_revoking_an_access_token_refuses_that_token_alone(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    rotated = await server.refresh_with(web, refresh_token_of(issued))  # same family
    await server.revocation.revoke(issued.access.token, web.client)
    with pytest.raises(Revoked):
        await server.verifier().verify(issued.access.token)
    await server.verifier().verify(rotated.access.token)
    entries = await server.storage.revocations.since(0)
    assert [(e.kind, e.value, e.expires_at) for e in entries] == [
        (RevocationKind.TOKEN, issued.access.jti, issued.access.expires_at + 30)
    ]
    await server.refresh_with(web, refresh_token_of(rotated))


async def test_revoking_a_foreign_token_changes_nothing(
    server: OAuthServer, web: Registered, other: Registered, issued: IssuedTokens
) -> None:
    token = refresh_token_of(issued)
    before = await server.refresh.find(token)
    await server.revocation.revoke(token, other.client)
    await server.revocation.revoke(issued.access.token, other.client)
    assert await server.storage.revocations.since(0) == []
    assert not server.revocations.local
    assert await server.refresh.find(token) == before
    await server.verifier().verify(issued.access.token)
    await server.refresh_with(web, token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 9000, "\u00e9"])
async def test_revoking_garbage_changes_nothing_and_raises_nothing(
    server: OAuthServer, web: Registered, token: str
) -> None:
    await server.revocation.revoke(token, web.client)
    assert await server.storage.revocations.since(0) == []


async def test_revoking_an_expired_access_token_changes_nothing(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    server.clock.advance(900 + 30)
    await server.revocation.revoke(issued.access.token, web.client)
    assert await server.storage.revocations.since(0) == []
