"""Browser mode of ``/auth`` (docs/server.md, "Browser apps"): the refresh token in an
``HttpOnly`` ``SameSite=Strict`` cookie, the access token and a CSRF token in the body only;
refresh and logout carried by the cookie need an allowed ``Origin`` and the CSRF token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.server.refresh_cookie import RefreshCookie
from ostiary.settings import Settings
from ostiary.storage.records import ClientAuthMethod

from ._oauth import ISSUER, oauth_settings, web_client
from ._refresh_cookie import (
    EVIL_ORIGIN,
    REFRESH_COOKIE,
    REFUSED,
    REFUSED_PROBLEM,
    SAME_ORIGIN,
    cookie_login,
    cookie_logout,
    cookie_refresh,
    refresh_cookie,
    set_cookie_of,
)
from ._server import (
    BAD_GRANT,
    NO_CREDENTIALS,
    PASSWORD,
    Server,
    bearer,
    oauth,
    running,
    settings_for,
)

APP_ORIGIN = "https://app.example.com"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(oauth_settings(tmp_path, cors_origins=[APP_ORIGIN])) as srv:
        await srv.add_user("alice")
        yield srv


# --- login --------------------------------------------------------------------------------


async def test_login_sets_an_httponly_strict_cookie_and_keeps_the_refresh_token_out_of_the_body(
    server: Server,
) -> None:
    response = await server.client.post(
        "/auth/login",
        json={"username": "alice", "password": PASSWORD, "cookie": True},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token_expires_in",
        "scope",
        "csrf_token",
    }
    assert response.headers["cache-control"] == "no-store"
    cookie = set_cookie_of(response, REFRESH_COOKIE)
    assert cookie[""] and cookie[""] not in response.text
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/"
    assert int(cookie["max-age"]) == body["refresh_token_expires_in"]
    assert "secure" not in cookie  # dev mode on a plain-HTTP loopback issuer only
    assert len(response.headers.get_list("set-cookie")) == 1  # no readable CSRF cookie
    assert (await server.profile(body["access_token"])).status_code == 200


async def test_login_without_the_cookie_flag_is_unchanged(server: Server) -> None:
    response = await server.client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}, headers=SAME_ORIGIN
    )
    assert response.status_code == 200
    assert "refresh_token" in response.json()
    assert "csrf_token" not in response.json()
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": EVIL_ORIGIN}, id="foreign-origin"),
        pytest.param({}, id="no-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site"),
    ],
)
async def test_cookie_login_from_elsewhere_is_refused(
    server: Server, headers: dict[str, str]
) -> None:
    response = await server.client.post(
        "/auth/login",
        json={"username": "alice", "password": PASSWORD, "cookie": True},
        headers=headers,
    )
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert "set-cookie" not in response.headers


async def test_an_origin_of_cors_origins_may_use_browser_mode(server: Server) -> None:
    body = await cookie_login(server, Origin=APP_ORIGIN)
    response = await cookie_refresh(server, body["csrf_token"], headers={"Origin": APP_ORIGIN})
    assert response.status_code == 200


def test_the_cookie_is_secure_with_the_host_prefix_outside_loopback_dev_mode(
    tmp_path: Path,
) -> None:
    https = RefreshCookie(settings_for(tmp_path, issuer="https://auth.example.com"), secret=b"k")
    not_dev = RefreshCookie(Settings(issuer="http://127.0.0.1:8000", dev=False), secret=b"k")
    plain_elsewhere = RefreshCookie(
        settings_for(tmp_path, issuer="http://auth.example.com"), secret=b"k"
    )
    for cookie in (https, not_dev, plain_elsewhere):
        assert (cookie.name, cookie.secure) == ("__Host-ostiary_refresh", True)


async def test_https_issuer_sets_a_secure_host_prefixed_cookie(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, issuer="https://auth.example.com")
    async with running(settings) as srv:
        await srv.add_user("alice")
        response = await srv.client.post(
            "/auth/login",
            json={"username": "alice", "password": PASSWORD, "cookie": True},
            headers={"Origin": "https://auth.example.com"},
        )
    assert response.status_code == 200
    cookie = set_cookie_of(response, "__Host-ostiary_refresh")
    assert {"secure", "httponly"} <= set(cookie)
    assert cookie["path"] == "/"
    assert "domain" not in cookie


# --- refresh --------------------------------------------------------------------------------


async def test_refresh_rotates_the_cookie_and_the_csrf_token(server: Server) -> None:
    first = await cookie_login(server)
    old_cookie = refresh_cookie(server)
    response = await cookie_refresh(server, first["csrf_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert "refresh_token" not in second
    assert second["csrf_token"] != first["csrf_token"]
    new_cookie = set_cookie_of(response, REFRESH_COOKIE)
    assert new_cookie[""] != old_cookie
    assert "httponly" in new_cookie
    assert refresh_cookie(server) == new_cookie[""]
    assert (await server.profile(second["access_token"])).status_code == 200
    again = await cookie_refresh(server, second["csrf_token"])
    assert again.status_code == 200


async def test_refresh_with_a_rotated_out_cookie_fails_and_clears_it(server: Server) -> None:
    first = await cookie_login(server)
    old_cookie = refresh_cookie(server)
    assert (await cookie_refresh(server, first["csrf_token"])).status_code == 200
    assert old_cookie is not None
    server.past_refresh_grace()
    server.client.cookies.set(REFRESH_COOKIE, old_cookie)
    response = await cookie_refresh(server, first["csrf_token"])
    assert (response.status_code, response.json()) == (400, BAD_GRANT)
    assert set_cookie_of(response, REFRESH_COOKIE)["max-age"] == "0"


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        pytest.param({}, "right", id="no-origin-no-sec-fetch-site"),
        pytest.param({"Origin": EVIL_ORIGIN}, "right", id="foreign-origin"),
        pytest.param({"Origin": "null"}, "right", id="null-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, "right", id="cross-site-fetch"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, "right", id="same-site-fetch"),
        pytest.param(SAME_ORIGIN, None, id="no-csrf-header"),
        pytest.param(SAME_ORIGIN, "", id="empty-csrf-header"),
        pytest.param(SAME_ORIGIN, "wrong", id="wrong-csrf-header"),
        pytest.param({"Origin": ISSUER + ".evil.example"}, "right", id="origin-suffix"),
    ],
)
async def test_refresh_carried_by_the_cookie_needs_origin_and_csrf_token(
    server: Server, headers: dict[str, str], token: str | None
) -> None:
    body = await cookie_login(server)
    cookie = refresh_cookie(server)
    sent = body["csrf_token"] if token == "right" else token
    response = await cookie_refresh(server, sent, headers=headers)
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert "set-cookie" not in response.headers
    assert refresh_cookie(server) == cookie  # not rotated: the real page still refreshes
    assert (await cookie_refresh(server, body["csrf_token"])).status_code == 200


async def test_sec_fetch_site_same_origin_stands_in_for_a_missing_origin(server: Server) -> None:
    body = await cookie_login(server)
    headers = {"Sec-Fetch-Site": "same-origin"}
    assert (await cookie_refresh(server, body["csrf_token"], headers=headers)).status_code == 200


async def test_the_csrf_token_of_another_session_does_not_match(server: Server) -> None:
    mine = await cookie_login(server)
    other = await cookie_login(server)  # replaces the cookie with the second session's
    response = await cookie_refresh(server, mine["csrf_token"])
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert (await cookie_refresh(server, other["csrf_token"])).status_code == 200


async def test_a_refresh_token_in_the_body_and_a_cookie_together_is_invalid_request(
    server: Server,
) -> None:
    browser = await cookie_login(server)
    plain = await server.login()
    response = await server.client.post(
        "/auth/refresh",
        json={"refresh_token": plain["refresh_token"]},
        headers={**SAME_ORIGIN, "X-CSRF-Token": browser["csrf_token"]},
    )
    assert response.status_code == 400
    assert response.json() == oauth(
        "invalid_request", "Send the refresh token in the cookie or in the body, not both."
    )
    # Neither token was spent.
    assert (await cookie_refresh(server, browser["csrf_token"])).status_code == 200
    server.client.cookies.clear()
    assert (await server.refresh(plain["refresh_token"])).status_code == 200


async def test_refresh_without_a_cookie_still_takes_the_body(server: Server) -> None:
    plain = await server.login()
    response = await server.refresh(plain["refresh_token"])
    assert response.status_code == 200
    assert "refresh_token" in response.json()
    assert "set-cookie" not in response.headers


# --- logout ---------------------------------------------------------------------------------


async def test_logout_by_cookie_ends_the_session_and_clears_the_cookie(server: Server) -> None:
    body = await cookie_login(server)
    cookie = refresh_cookie(server)
    response = await cookie_logout(server, body["csrf_token"])
    assert response.status_code == 204
    cleared = set_cookie_of(response, REFRESH_COOKIE)
    assert cleared["max-age"] == "0"
    assert "httponly" in cleared
    assert refresh_cookie(server) is None
    profile = await server.profile(body["access_token"])
    assert profile.status_code == 401  # the session's access tokens are revoked too
    assert cookie is not None
    server.client.cookies.set(REFRESH_COOKIE, cookie)
    again = await cookie_refresh(server, body["csrf_token"])
    assert (again.status_code, again.json()) == (400, BAD_GRANT)


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        pytest.param({"Origin": EVIL_ORIGIN}, "right", id="foreign-origin"),
        pytest.param({}, "right", id="no-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, "right", id="cross-site-fetch"),
        pytest.param(SAME_ORIGIN, None, id="no-csrf-header"),
        pytest.param(SAME_ORIGIN, "wrong", id="wrong-csrf-header"),
    ],
)
async def test_logout_by_cookie_needs_origin_and_csrf_token(
    server: Server, headers: dict[str, str], token: str | None
) -> None:
    body = await cookie_login(server)
    sent = body["csrf_token"] if token == "right" else token
    response = await cookie_logout(server, sent, headers=headers)
    assert (response.status_code, response.json()) == (403, REFUSED_PROBLEM)
    assert "set-cookie" not in response.headers
    assert (await server.profile(body["access_token"])).status_code == 200


async def test_logout_without_a_cookie_still_takes_the_bearer_token(server: Server) -> None:
    plain = await server.login()
    response = await server.client.post("/auth/logout", headers=bearer(plain["access_token"]))
    assert response.status_code == 204
    unauthenticated = await server.client.post("/auth/logout")
    assert (unauthenticated.status_code, unauthenticated.json()) == (401, NO_CREDENTIALS)


# --- the OAuth endpoints ignore the cookie ----------------------------------------------------


async def test_oauth_token_ignores_the_refresh_cookie(server: Server) -> None:
    await web_client(server, "spa", auth_method=ClientAuthMethod.NONE)
    body = await cookie_login(server)
    response = await server.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "client_id": "spa"},
        headers={**SAME_ORIGIN, "X-CSRF-Token": body["csrf_token"]},
    )
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The refresh_token parameter is missing."),
    )
    assert "set-cookie" not in response.headers
    assert (await cookie_refresh(server, body["csrf_token"])).status_code == 200


async def test_oauth_revoke_ignores_the_refresh_cookie(server: Server) -> None:
    await web_client(server, "spa", auth_method=ClientAuthMethod.NONE)
    body = await cookie_login(server)
    response = await server.client.post(
        "/oauth/revoke",
        data={"client_id": "spa"},
        headers={**SAME_ORIGIN, "X-CSRF-Token": body["csrf_token"]},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "set-cookie" not in response.headers
    assert (await cookie_refresh(server, body["csrf_token"])).status_code == 200
