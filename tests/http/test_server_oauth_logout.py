"""``/oauth/logout`` (OpenID Connect RP-Initiated Logout 1.0): with a live ``id_token_hint`` of
the browser's own session, that session ends with everything issued under it and the browser
goes back to a registered ``post_logout_redirect_uri`` with ``state``; otherwise (no hint, an
expired one, another session's) the user confirms by a CSRF-protected POST first, and only the
browser's own session ends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ostiary.authn.client_settings import ClientSettings
from ostiary.jose import JWK, sign_compact

from ._oauth import (
    AFTER_LOGOUT,
    ISSUER,
    SSO_COOKIE,
    Pkce,
    another_browser,
    authorization_code,
    authorize_query,
    claims_of,
    code_flow_tokens,
    form_action,
    form_fields,
    is_login_page,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    redeem,
    redirect_query,
    refresh,
    submit,
    userinfo,
    web_client,
)
from ._server import Server, oauth

BAD_GRANT = oauth("invalid_grant", "The grant is invalid, expired or revoked.")
SIGNED_OUT = "You have been signed out."


async def signed_in_tokens(server: Server) -> dict[str, Any]:
    web = await web_client(server, first_party=True)
    return await code_flow_tokens(server, web)


async def session_is_live(server: Server) -> bool:
    """Does the browser still get a code without signing in?"""
    query = authorize_query("web", Pkce.new(), prompt="none")
    response = await server.client.get("/oauth/authorize", params=query)
    return "code" in redirect_query(response)


def assert_sso_cookie_cleared(response: httpx.Response) -> None:
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith(f'{SSO_COOKIE}=""') and "Max-Age=0" in c for c in cookies), cookies


# --- with id_token_hint -----------------------------------------------------------------------


async def test_logout_with_a_hint_ends_the_session_and_redirects_with_state(
    server: Server,
) -> None:
    tokens = await signed_in_tokens(server)
    params = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": AFTER_LOGOUT,
        "state": "bye-1",
    }
    response = await server.client.get("/oauth/logout", params=params)
    assert redirect_query(response, AFTER_LOGOUT) == {"state": "bye-1"}
    assert response.headers["cache-control"] == "no-store"
    assert_sso_cookie_cleared(response)
    assert not await session_is_live(server)


async def test_logout_revokes_what_was_issued_under_the_session(server: Server) -> None:
    web = await web_client(server, first_party=True)
    tokens = await code_flow_tokens(server, web)
    response = await server.client.get(
        "/oauth/logout", params={"id_token_hint": tokens["id_token"]}
    )
    assert response.status_code == 200
    refreshed = await refresh(server, web, tokens["refresh_token"])
    assert (refreshed.status_code, refreshed.json()) == (400, BAD_GRANT)
    info = await userinfo(server, tokens["access_token"])
    assert info.status_code == 401
    assert info.json() == oauth("invalid_token", "The access token is invalid.")


async def test_logout_leaves_other_sessions_alone(server: Server) -> None:
    web = await web_client(server, first_party=True)
    mine = await code_flow_tokens(server, web)
    first_browser = dict(server.client.cookies)
    server.client.cookies.clear()  # alice signs in again in another browser...
    theirs = await code_flow_tokens(server, web)
    async with another_browser(server) as browser:  # ... and the first one logs out
        browser.cookies.update(first_browser)
        await browser.get("/oauth/logout", params={"id_token_hint": mine["id_token"]})
    assert await session_is_live(server)
    refused = await refresh(server, web, mine["refresh_token"])
    assert (refused.status_code, refused.json()) == (400, BAD_GRANT)
    assert (await refresh(server, web, theirs["refresh_token"])).status_code == 200
    assert (await userinfo(server, theirs["access_token"])).status_code == 200


async def test_a_hint_from_another_browser_ends_only_that_browsers_session(
    server: Server,
) -> None:
    # sid names a session, but a logout only ever ends the sending browser's own session
    # (here: none, so there is nothing to confirm).
    web = await web_client(server, first_party=True)
    tokens = await code_flow_tokens(server, web)
    async with another_browser(server) as browser:
        response = await browser.get("/oauth/logout", params={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert SIGNED_OUT in response.text
    assert await session_is_live(server)
    assert (await refresh(server, web, tokens["refresh_token"])).status_code == 200


async def test_an_expired_hint_still_identifies(server: Server) -> None:
    # It no longer vouches for the request (the user is asked), but it still names the
    # client whose registered post_logout_redirect_uri is followed.
    tokens = await signed_in_tokens(server)
    server.clock.advance(3600)
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT}
    page = await server.client.get("/oauth/logout", params=params)
    assert form_action(page) == "/oauth/logout"
    assert "form-action 'self' http://localhost:9000;" in page.headers["content-security-policy"]
    assert await session_is_live(server)
    response = await submit(server.client, page, {"decision": "allow"})
    assert response.status_code == 303
    assert response.headers["location"] == AFTER_LOGOUT  # no state: the URI as registered


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/",
        "http://localhost:9000",
        "http://localhost:9000/x",
        "http://localhost:9001/",
        AFTER_LOGOUT + "?next=https://evil.example",
    ],
)
async def test_an_unregistered_post_logout_uri_is_not_followed(server: Server, uri: str) -> None:
    tokens = await signed_in_tokens(server)
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": uri, "state": "s"}
    response = await server.client.get("/oauth/logout", params=params)
    assert response.status_code == 200
    assert "location" not in response.headers
    assert SIGNED_OUT in response.text
    assert not await session_is_live(server)


async def test_another_clients_post_logout_uri_is_not_followed(server: Server) -> None:
    tokens = await signed_in_tokens(server)
    theirs = "https://other.example/bye"
    settings = ClientSettings(
        name="Other",
        grant_types=frozenset({"authorization_code"}),
        redirect_uris=("https://other.example/cb",),
        post_logout_redirect_uris=(theirs,),
    )
    await server.services.oauth.clients.create(settings, client_id="other")
    # The hint says the request comes from "web": "other"'s URI is not web's to use, even
    # when the request claims to be other's.
    for extra in ({}, {"client_id": "other"}):
        params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": theirs}
        response = await server.client.get("/oauth/logout", params={**params, **extra})
        assert response.status_code == 200
        assert "location" not in response.headers


@pytest.mark.parametrize("kind", ["garbage", "access token", "foreign key", "other issuer"])
async def test_a_hint_the_server_did_not_sign_as_an_id_token_asks_first(
    server: Server, kind: str
) -> None:
    tokens = await signed_in_tokens(server)
    claims = claims_of(tokens["id_token"])
    hint = {
        "garbage": "not.a.jwt",
        "access token": tokens["access_token"],
        "foreign key": sign_compact(claims, JWK.generate("ES256")),
        "other issuer": sign_compact(
            {**claims, "iss": "https://evil.example"}, server.services.keys.signing_key()
        ),
    }[kind]
    response = await server.client.get("/oauth/logout", params={"id_token_hint": hint})
    assert response.status_code == 200
    assert form_action(response) == "/oauth/logout"
    assert await session_is_live(server)


# --- without a hint: the user confirms ------------------------------------------------------


async def test_logout_without_a_hint_asks_and_changes_nothing(server: Server) -> None:
    await signed_in_tokens(server)
    page = await server.client.get("/oauth/logout")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert form_action(page) == "/oauth/logout"
    assert form_fields(page)["csrf_token"]
    assert await session_is_live(server)


async def test_the_confirmed_form_ends_the_session(server: Server) -> None:
    tokens = await signed_in_tokens(server)
    page = await server.client.get(
        "/oauth/logout",
        params={"client_id": "web", "post_logout_redirect_uri": AFTER_LOGOUT, "state": "s-2"},
    )
    assert form_fields(page)["post_logout_redirect_uri"] == AFTER_LOGOUT
    # Chromium applies form-action to the redirect that answers the form.
    csp = page.headers["content-security-policy"]
    assert "form-action 'self' http://localhost:9000;" in csp
    response = await submit(server.client, page, {"decision": "allow"})
    assert redirect_query(response, AFTER_LOGOUT) == {"state": "s-2"}
    assert_sso_cookie_cleared(response)
    assert not await session_is_live(server)
    info = await userinfo(server, tokens["access_token"])
    assert info.status_code == 401


async def test_the_confirmation_lists_no_unregistered_origin(server: Server) -> None:
    await signed_in_tokens(server)
    page = await server.client.get(
        "/oauth/logout",
        params={"client_id": "web", "post_logout_redirect_uri": "https://evil.example/"},
    )
    assert "evil" not in page.headers["content-security-policy"]
    response = await submit(server.client, page, {"decision": "allow"})
    assert response.status_code == 200
    assert SIGNED_OUT in response.text


async def test_the_confirmation_may_be_declined(server: Server) -> None:
    await signed_in_tokens(server)
    page = await server.client.get("/oauth/logout")
    response = await submit(server.client, page, {"decision": "deny"})
    assert response.status_code == 200
    assert "You are still signed in." in response.text
    assert await session_is_live(server)


@pytest.mark.parametrize(
    ("changes", "headers"),
    [
        ({"csrf_token": ""}, {"Origin": ISSUER}),
        ({"csrf_token": "forged"}, {"Origin": ISSUER}),
        ({}, {"Origin": "https://evil.example"}),
        ({}, {"Sec-Fetch-Site": "cross-site"}),
    ],
    ids=["no token", "wrong token", "foreign origin", "cross-site fetch"],
)
async def test_an_unconfirmed_post_signs_nobody_out(
    server: Server, changes: dict[str, str], headers: dict[str, str]
) -> None:
    await signed_in_tokens(server)
    page = await server.client.get("/oauth/logout")
    response = await submit(server.client, page, changes, headers=headers)
    assert response.status_code == 200
    assert form_action(response) == "/oauth/logout"  # the question again
    assert await session_is_live(server)


async def test_logout_without_a_session_says_so(server: Server) -> None:
    """Nothing to end, nothing to confirm (another app's logout ended the session already)."""
    response = await server.client.get("/oauth/logout")
    assert response.status_code == 200
    assert SIGNED_OUT in response.text


async def test_after_logout_the_next_authorization_asks_for_the_password(server: Server) -> None:
    tokens = await signed_in_tokens(server)
    await server.client.get("/oauth/logout", params={"id_token_hint": tokens["id_token"]})
    page = await server.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert is_login_page(page)


async def test_a_code_issued_before_logout_is_refused_after_it(server: Server) -> None:
    web = await web_client(server, first_party=True)
    tokens = await code_flow_tokens(server, web)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    await server.client.get("/oauth/logout", params={"id_token_hint": tokens["id_token"]})
    response = await redeem(server, web, code, pkce)
    assert (response.status_code, response.json()) == (400, BAD_GRANT)
