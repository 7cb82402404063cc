"""``/auth``: logout, logout-all, me and the password change, all behind a Bearer token."""

from __future__ import annotations

import pytest

from ._server import (
    BAD_GRANT,
    BAD_LOGIN,
    NEW_PASSWORD,
    NO_CREDENTIALS,
    NO_STORE,
    PASSWORD,
    REVOKED,
    SERVER_REALM,
    Server,
    bearer,
    oauth,
    problem,
)

# --- logout ------------------------------------------------------------------------------


async def test_logout_refuses_the_access_token_at_once(server: Server) -> None:
    tokens = await server.login()
    response = await server.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204
    assert response.content == b""
    refused = await server.profile(tokens["access_token"])
    assert (refused.status_code, refused.json()) == (401, REVOKED)
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert (await server.refresh(tokens["refresh_token"])).json() == BAD_GRANT


async def test_logout_ends_only_its_own_session(server: Server) -> None:
    mine, other = await server.login(), await server.login()
    await server.client.post("/auth/logout", headers=bearer(mine["access_token"]))
    assert (await server.profile(other["access_token"])).status_code == 200
    assert (await server.refresh(other["refresh_token"])).status_code == 200


async def test_logout_all_ends_every_session(server: Server) -> None:
    one, two = await server.login(), await server.login()
    response = await server.client.post("/auth/logout-all", headers=bearer(one["access_token"]))
    assert response.status_code == 204
    for tokens in (one, two):
        assert (await server.profile(tokens["access_token"])).json() == REVOKED
        assert (await server.refresh(tokens["refresh_token"])).json() == BAD_GRANT


@pytest.mark.parametrize("path", ["/auth/logout", "/auth/logout-all"])
async def test_logout_without_a_token_is_an_rfc_6750_401(server: Server, path: str) -> None:
    response = await server.client.post(path)
    assert response.status_code == 401
    assert response.json() == NO_CREDENTIALS
    assert response.headers["www-authenticate"] == SERVER_REALM


# --- me ----------------------------------------------------------------------------------


async def test_me_describes_the_caller(server: Server) -> None:
    tokens = await server.login()
    response = await server.profile(tokens["access_token"])
    assert response.status_code == 200
    body = response.json()
    assert (body["username"], body["roles"]) == ("alice", ["user"])
    for name, value in NO_STORE.items():
        assert response.headers[name] == value


async def test_me_with_an_expired_token_is_401(server: Server) -> None:
    tokens = await server.login()
    server.clock.advance(900 + 30 + 1)
    response = await server.profile(tokens["access_token"])
    assert (response.status_code, response.json()) == (
        401,
        oauth("invalid_token", "The token has expired."),
    )


async def test_me_with_a_token_in_the_query_is_400(server: Server) -> None:
    tokens = await server.login()
    response = await server.client.get(f"/auth/me?access_token={tokens['access_token']}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- password ----------------------------------------------------------------------------


async def test_a_password_change_ends_every_other_session(server: Server) -> None:
    mine, other = await server.login(), await server.login()
    response = await server.client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(mine["access_token"]),
    )
    assert response.status_code == 204
    assert (await server.profile(mine["access_token"])).status_code == 200
    assert (await server.refresh(mine["refresh_token"])).status_code == 200
    assert (await server.profile(other["access_token"])).json() == REVOKED
    assert (await server.refresh(other["refresh_token"])).json() == BAD_GRANT
    await server.login(password=NEW_PASSWORD)
    old = await server.client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert old.json() == BAD_LOGIN


async def test_a_wrong_current_password_is_403(server: Server) -> None:
    tokens = await server.login()
    response = await server.client.post(
        "/auth/password",
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
        headers=bearer(tokens["access_token"]),
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(403, "Forbidden", "The current password is incorrect.")


async def test_a_weak_new_password_is_a_400_problem(server: Server) -> None:
    tokens = await server.login()
    response = await server.client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=bearer(tokens["access_token"]),
    )
    assert response.status_code == 400
    assert response.json() == problem(
        400, "Bad Request", "The password must be at least 12 characters long."
    )
