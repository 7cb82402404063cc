"""``/auth``: register, login, refresh with rotation and reuse detection, logout, me, password."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ostiary.jose.inspect import inspect_compact

from ._server import (
    BAD_GRANT,
    BAD_LOGIN,
    NO_STORE,
    PASSWORD,
    REVOKED,
    Server,
    oauth,
    running,
    settings_for,
)


def assert_no_store(response: httpx.Response) -> None:
    for name, value in NO_STORE.items():
        assert response.headers[name] == value


# --- register ----------------------------------------------------------------------------


async def test_register_creates_an_account(server: Server) -> None:
    response = await server.client.post(
        "/auth/register", json={"username": " Bob@Example.org ", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "bob@example.org"
    assert body["roles"] == ["user"]
    assert body["id"].startswith("usr_")
    assert set(body) == {"id", "username", "roles", "created_at"}
    assert_no_store(response)
    await server.login("bob@example.org")


async def test_register_an_existing_user_is_409(server: Server) -> None:
    response = await server.client.post(
        "/auth/register", json={"username": "ALICE", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json() == oauth(
        "account_exists", "An account with this username exists already."
    )


async def test_register_a_short_password_is_400(server: Server) -> None:
    response = await server.client.post(
        "/auth/register", json={"username": "bob", "password": "short"}
    )
    assert response.status_code == 400
    assert response.json() == oauth(
        "invalid_request", "The password must be at least 12 characters long."
    )


async def test_register_an_invisible_username_is_400(server: Server) -> None:
    response = await server.client.post(
        "/auth/register", json={"username": "bo\u200bb", "password": PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_registration_can_be_switched_off(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, registration_enabled=False)) as srv:
        response = await srv.client.post(
            "/auth/register", json={"username": "bob", "password": PASSWORD}
        )
    assert response.status_code == 403
    assert response.json() == oauth("access_denied", "Registration is disabled.")


# --- login -------------------------------------------------------------------------------


async def test_login_answers_a_token_pair(server: Server) -> None:
    response = await server.client.post(
        "/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"User-Agent": "test-agent/1"},
    )
    assert response.status_code == 200
    assert_no_store(response)
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_token_expires_in",
        "scope",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token_expires_in"] == 7 * 86_400
    assert body["scope"] == "profile"
    assert len(body["refresh_token"]) >= 43  # 256 random bits


async def test_the_access_token_has_the_rfc_9068_claims(server: Server) -> None:
    user_id = (await server.services.accounts.get_by_username("alice")).id
    body = await server.login()
    header, claims = inspect_compact(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"] == server.services.keys.ring.signing_key.kid
    assert set(claims) == {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "scope",
        "roles",
        "sid",
    }
    assert claims["sub"] == user_id
    # The account API's audience and OSTIARY_AUDIENCE's (docs/security.md).
    assert (claims["iss"], claims["aud"], claims["client_id"]) == (
        "http://127.0.0.1:8000",
        ["api", "http://127.0.0.1:8000/auth"],
        "ostiary",
    )
    assert claims["roles"] == ["user"]
    assert claims["exp"] - claims["iat"] == 900
    assert "alice" not in str(claims)  # no personal data by default


async def test_the_username_claim_is_opt_in(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, include_username_claim=True)) as srv:
        await srv.add_user("alice")
        _, claims = inspect_compact((await srv.login())["access_token"])
    assert claims["preferred_username"] == "alice"


async def test_admins_get_the_scopes_of_their_role(server: Server) -> None:
    await server.add_user("root", "admin")
    body = await server.login("root")
    assert body["scope"] == "admin profile reports:read"
    _, claims = inspect_compact(body["access_token"])
    assert "http://127.0.0.1:8000/admin" in claims["aud"]  # the admin API's too


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password!!"), ("nobody", PASSWORD), ("nobody", "wrong password!!")],
    ids=["wrong-password", "unknown-user", "both"],
)
async def test_a_failed_login_is_one_and_the_same_401(
    server: Server, username: str, password: str
) -> None:
    response = await server.client.post(
        "/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.json() == BAD_LOGIN
    assert_no_store(response)


async def test_a_disabled_user_cannot_log_in(server: Server) -> None:
    alice = await server.services.accounts.get_by_username("alice")
    await server.services.accounts.disable(alice.id)
    response = await server.client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert (response.status_code, response.json()) == (401, BAD_LOGIN)


# --- refresh -----------------------------------------------------------------------------


async def test_refresh_rotates_the_pair(server: Server) -> None:
    first = await server.login()
    response = await server.refresh(first["refresh_token"])
    assert response.status_code == 200
    assert_no_store(response)
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    _, old = inspect_compact(first["access_token"])
    _, new = inspect_compact(second["access_token"])
    assert new["sid"] == old["sid"]
    assert (await server.profile(second["access_token"])).status_code == 200


async def test_reuse_revokes_the_family_and_its_access_tokens(server: Server) -> None:
    first = await server.login()
    second = (await server.refresh(first["refresh_token"])).json()
    server.past_refresh_grace()
    reuse = await server.refresh(first["refresh_token"])
    assert (reuse.status_code, reuse.json()) == (400, BAD_GRANT)
    # the successor is dead too, and so is every access token of the family
    assert (await server.refresh(second["refresh_token"])).json() == BAD_GRANT
    for token in (first["access_token"], second["access_token"]):
        refused = await server.profile(token)
        assert (refused.status_code, refused.json()) == (401, REVOKED)
    # other sessions are not touched
    other = await server.login()
    assert (await server.profile(other["access_token"])).status_code == 200


@pytest.mark.parametrize("token", ["", "x" * 43, "x" * 5000], ids=["empty", "unknown", "huge"])
async def test_refresh_with_a_bad_token_is_invalid_grant(server: Server, token: str) -> None:
    response = await server.refresh(token)
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_refresh_after_the_idle_timeout_is_invalid_grant(server: Server) -> None:
    tokens = await server.login()
    server.clock.advance(7 * 86_400 + 1)
    response = await server.refresh(tokens["refresh_token"])
    assert (response.status_code, response.json()) == (400, BAD_GRANT)


async def test_refresh_for_a_disabled_user_is_invalid_grant(server: Server) -> None:
    tokens = await server.login()
    alice = await server.services.accounts.get_by_username("alice")
    await server.services.accounts.disable(alice.id)
    response = await server.refresh(tokens["refresh_token"])
    assert (response.status_code, response.json()) == (400, BAD_GRANT)
    assert (await server.profile(tokens["access_token"])).json() == REVOKED


async def test_a_removed_role_narrows_the_scope_at_refresh(server: Server) -> None:
    user_id = await server.add_user("root", "admin")
    tokens = await server.login("root")
    await server.services.accounts.remove_role(user_id, "admin")
    refreshed = (await server.refresh(tokens["refresh_token"])).json()
    assert refreshed["scope"] == "profile"
    _, claims = inspect_compact(refreshed["access_token"])
    assert claims["roles"] == []


async def test_a_grace_window_answers_a_retry_with_the_same_successor(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, refresh_grace_seconds=5)) as srv:
        await srv.add_user("alice")
        first = await srv.login()
        one = (await srv.refresh(first["refresh_token"])).json()
        two = (await srv.refresh(first["refresh_token"])).json()
        assert one["refresh_token"] == two["refresh_token"]
        srv.clock.advance(6)
        late = await srv.refresh(first["refresh_token"])
        assert (late.status_code, late.json()) == (400, BAD_GRANT)
