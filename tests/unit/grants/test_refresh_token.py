"""The refresh token grant for OAuth clients (RFC 6749 §6): rotation with reuse detection
(RFC 9700 §4.14.2), tokens bound to their client, scope narrowed but never widened."""

from __future__ import annotations

import pytest

from ostiary.authn.client_auth import ClientCredentials
from ostiary.authn.client_registry import Registered
from ostiary.authn.client_settings import REFRESH_TOKEN
from ostiary.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    RefreshTokenReused,
    Revoked,
    UnauthorizedClient,
)
from ostiary.grants.base import IssuedTokens, OAuthParams
from ostiary.storage.records import User
from tests.unit.grants._server import AUDIENCE, ORDERS, SERVER_AUDIENCES, T0, OAuthServer, basic

DAY = 86_400.0


@pytest.fixture
async def web(server: OAuthServer) -> Registered:
    return await server.add_web_app(audiences=frozenset({ORDERS, AUDIENCE}))


@pytest.fixture
async def alice(server: OAuthServer) -> User:
    return await server.add_user()


@pytest.fixture
async def issued(server: OAuthServer, web: Registered, alice: User) -> IssuedTokens:
    scope = "openid profile orders:read"
    return await server.redeem(web, await server.code_for(web, alice, scope=scope))


def refresh_token_of(response: IssuedTokens) -> str:
    assert response.refresh_token is not None
    return response.refresh_token


async def test_a_refresh_rotates_the_token_and_issues_a_new_access_token(
    server: OAuthServer, web: Registered, issued: IssuedTokens, alice: User
) -> None:
    old = refresh_token_of(issued)
    server.clock.advance(60)
    response = await server.refresh_with(web, old)
    new = refresh_token_of(response)
    assert new != old
    assert response.scope == "openid orders:read profile"
    assert response.refresh_expires_in == 7 * 86_400
    assert response.id_token is None
    claims = await server.verifier(ORDERS).verify(response.access.token)
    first = await server.verifier(ORDERS).verify(issued.access.token)
    assert (claims.sub, claims.client_id, claims.sid) == (alice.id, "web", first.sid)
    # The grant's: its registered APIs, and UserInfo for openid.
    assert claims.audiences == (AUDIENCE, SERVER_AUDIENCES.userinfo, ORDERS)
    assert claims.iat == int(T0 + 60)


async def test_reusing_a_rotated_token_revokes_the_family_and_its_access_tokens(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    old = refresh_token_of(issued)
    rotated = await server.refresh_with(web, old)
    with pytest.raises(RefreshTokenReused):
        await server.refresh_with(web, old)
    for response in (issued, rotated):
        with pytest.raises(Revoked):
            await server.verifier().verify(response.access.token)
    with pytest.raises(InvalidGrant):  # the successor died with its family
        await server.refresh_with(web, refresh_token_of(rotated))


async def test_another_clients_token_is_refused_without_being_rotated(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    thief = await server.add_web_app("thief")
    token = refresh_token_of(issued)
    found = await server.refresh.find(token)
    assert found is not None
    with pytest.raises(InvalidGrant) as caught:
        await server.refresh_with(thief, token)
    assert not isinstance(caught.value, RefreshTokenReused)
    after = await server.refresh.find(token)
    assert after == found  # not marked used, family untouched
    assert not server.revocations.local.is_revoked(
        await server.verifier().verify(issued.access.token)
    )
    # The owner still refreshes with it, and no reuse is detected.
    response = await server.refresh_with(web, token)
    assert response.refresh_token is not None


async def test_the_scope_can_be_narrowed_for_one_access_token(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    narrowed = await server.refresh_with(web, refresh_token_of(issued), scope="orders:read")
    assert narrowed.scope == "orders:read"
    claims = await server.verifier().verify(narrowed.access.token)
    assert claims.scopes == {"orders:read"}
    # The grant itself keeps its scope: the next refresh without scope has all of it.
    full = await server.refresh_with(web, refresh_token_of(narrowed))
    assert full.scope == "openid orders:read profile"


@pytest.mark.parametrize("scope", ["orders:read orders:write", "admin", 'bad"scope'])
async def test_a_wider_or_malformed_scope_is_refused_and_the_token_still_works(
    server: OAuthServer, web: Registered, issued: IssuedTokens, scope: str
) -> None:
    token = refresh_token_of(issued)
    with pytest.raises(InvalidScope):
        await server.refresh_with(web, token, scope=scope)
    found = await server.refresh.find(token)
    assert found is not None and found[0].used_at is None
    response = await server.refresh_with(web, token)
    assert response.scope == "openid orders:read profile"


async def test_resources_may_be_asked_again_within_the_registered_ones(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    token = refresh_token_of(issued)
    with pytest.raises(InvalidTarget):
        await server.refresh_with(web, token, resources=("https://billing.example.test",))
    response = await server.refresh_with(web, token, resources=(ORDERS,))  # token not spent
    claims = await server.verifier(ORDERS).verify(response.access.token)
    assert claims.raw["aud"] == ORDERS


async def test_a_disabled_user_ends_the_family_and_its_access_tokens(
    server: OAuthServer, web: Registered, issued: IssuedTokens, alice: User
) -> None:
    await server.accounts.disable(alice.id)
    token = refresh_token_of(issued)
    with pytest.raises(InvalidGrant):
        await server.refresh_with(web, token)
    with pytest.raises(Revoked):
        await server.verifier().verify(issued.access.token)
    found = await server.refresh.find(token)
    assert found is not None and found[1].revoked_at is not None
    await server.accounts.enable(alice.id)
    with pytest.raises(InvalidGrant):  # enabling again does not bring the family back
        await server.refresh_with(web, token)


async def test_an_idle_token_expires(
    server: OAuthServer, web: Registered, issued: IssuedTokens
) -> None:
    server.clock.advance(7 * DAY + 1)
    with pytest.raises(InvalidGrant):
        await server.refresh_with(web, refresh_token_of(issued))


async def test_a_missing_or_unknown_refresh_token(server: OAuthServer, web: Registered) -> None:
    with pytest.raises(InvalidRequest, match="refresh_token"):
        await server.endpoint.exchange(basic(web), OAuthParams({"grant_type": REFRESH_TOKEN}))
    for token in ("unknown", "x" * 257):
        with pytest.raises(InvalidGrant):
            await server.refresh_with(web, token)


async def test_a_client_without_the_refresh_grant_cannot_refresh(
    server: OAuthServer, alice: User
) -> None:
    app = await server.add_web_app("norefresh", refresh=False)
    family = await server.refresh.start(user_id=alice.id, client_id="norefresh", scope="openid")
    with pytest.raises(UnauthorizedClient):
        await server.refresh_with(app, family.token)


async def test_a_public_client_refreshes_with_its_id(server: OAuthServer, alice: User) -> None:
    spa = await server.add_web_app("spa", public=True)
    issued = await server.redeem(spa, await server.code_for(spa, alice))
    request = OAuthParams({"grant_type": REFRESH_TOKEN, "refresh_token": refresh_token_of(issued)})
    response = await server.endpoint.exchange(ClientCredentials(client_id="spa"), request)
    assert response.refresh_token is not None
