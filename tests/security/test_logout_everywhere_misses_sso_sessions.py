"""Attack: "log out everywhere" that leaves a browser signed in. After ``POST
/auth/logout-all`` the browser's single sign-on cookie still got new authorization codes with
``prompt=none``, and ``GET /auth/sessions`` never listed browser sessions, so a user could
neither see nor end them (a stolen SSO cookie, a shared computer).

Now ending every session of a user ends their browser sessions too (one session lifecycle),
``/auth/sessions`` lists them (``kind: "browser"``), and ``DELETE /auth/sessions/{id}`` ends
one."""

from __future__ import annotations

import pytest

from ostiary.authn.client_registry import Registered
from tests.http._oauth import (
    Pkce,
    authorize_query,
    code_flow_tokens,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    redirect_query,
    refresh,
    web_client,
)
from tests.http._server import BAD_GRANT, NEW_PASSWORD, PASSWORD, Server, bearer


@pytest.fixture
async def web(server: Server) -> Registered:
    return await web_client(server)


async def silent_authorization(server: Server) -> dict[str, str]:
    """What ``prompt=none`` gets from the browser's single sign-on session."""
    query = authorize_query("web", Pkce.new(), prompt="none")
    return redirect_query(await server.client.get("/oauth/authorize", params=query))


async def signed_in_browser(server: Server, web: Registered) -> dict[str, str]:
    """Sign the browser in through the authorization endpoint; its code flow's tokens."""
    tokens = await code_flow_tokens(server, web)
    assert "code" in await silent_authorization(server)  # signed in: SSO works
    return tokens


async def test_logout_all_ends_the_browsers_single_sign_on(server: Server, web: Registered) -> None:
    await signed_in_browser(server, web)
    token = (await server.login())["access_token"]

    ended = await server.client.post("/auth/logout-all", headers=bearer(token))

    assert ended.status_code == 204
    assert (await silent_authorization(server))["error"] == "login_required"


async def test_a_password_change_ends_the_browsers_single_sign_on(
    server: Server, web: Registered
) -> None:
    await signed_in_browser(server, web)
    token = (await server.login())["access_token"]
    changed = await server.client.post(
        "/auth/password",
        headers=bearer(token),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204
    assert (await silent_authorization(server))["error"] == "login_required"


async def test_sessions_lists_browsers_and_ending_one_ends_its_single_sign_on(
    server: Server, web: Registered
) -> None:
    await signed_in_browser(server, web)
    login = await server.login()
    headers = bearer(login["access_token"])

    listed = (await server.client.get("/auth/sessions", headers=headers)).json()

    kinds = sorted((s["kind"], s["client_id"]) for s in listed)
    assert kinds == [("app", "ostiary"), ("app", "web"), ("browser", None)]
    browser = next(s for s in listed if s["kind"] == "browser")
    ended = await server.client.delete(f"/auth/sessions/{browser['id']}", headers=headers)
    assert ended.status_code == 204
    assert (await silent_authorization(server))["error"] == "login_required"
    left = (await server.client.get("/auth/sessions", headers=headers)).json()
    # The browser took the app session it had opened with it; the login stays.
    assert [(s["kind"], s["client_id"]) for s in left] == [("app", "ostiary")]


async def test_ending_a_browser_session_ends_the_app_sessions_it_opened(
    server: Server, web: Registered
) -> None:
    tokens = await signed_in_browser(server, web)
    headers = bearer((await server.login())["access_token"])
    listed = (await server.client.get("/auth/sessions", headers=headers)).json()
    browser = next(s for s in listed if s["kind"] == "browser")

    await server.client.delete(f"/auth/sessions/{browser['id']}", headers=headers)

    answer = await refresh(server, web, tokens["refresh_token"])
    assert (answer.status_code, answer.json()) == (400, BAD_GRANT)
