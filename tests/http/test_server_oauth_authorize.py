"""``/oauth/authorize`` (RFC 6749 §4.1.1-§4.1.2, OpenID Connect Core §3.1.2): the login and
consent pages, single sign-on, ``prompt`` and ``max_age``, and errors redirected to the client
with ``state`` and ``iss`` (RFC 9207) once its redirect URI is trusted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from ._oauth import (
    API,
    CSRF_COOKIE,
    ISSUER,
    OTHER_API,
    SSO_COOKIE,
    Pkce,
    another_browser,
    authorization_code,
    authorize_query,
    claims_of,
    code_flow_tokens,
    form_fields,
    is_consent_page,
    is_login_page,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    redeem,
    redirect_query,
    sign_in,
    submit,
    web_client,
)
from ._server import NEW_PASSWORD, PASSWORD, Server, bearer, running, settings_for


def error_redirect(error: str, description: str, state: str | None = "st-web") -> dict[str, str]:
    answer = {"error": error, "error_description": description, "iss": ISSUER}
    if state is not None:
        answer["state"] = state
    return answer


async def signed_in(server: Server) -> None:
    """Alice has a browser session (through a first-party client, so no consent)."""
    await web_client(server, "portal", first_party=True)
    await authorization_code(server, authorize_query("portal", Pkce.new()))


# --- the login page ---------------------------------------------------------------------------


async def test_without_a_session_the_login_page_carries_the_request(server: Server) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new())
    page = await server.client.get("/oauth/authorize", params=query)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-store"
    assert "App web" in page.text
    fields = form_fields(page)
    assert {k: fields[k] for k in query} == query
    assert fields["step"] == "login"
    assert fields["csrf_token"]
    assert page.cookies.get(CSRF_COOKIE)
    assert SSO_COOKIE not in page.cookies


async def test_a_wrong_password_shows_the_form_again_without_a_session(server: Server) -> None:
    await web_client(server)
    page = await sign_in(server, authorize_query("web", Pkce.new()), password="wrong password!")
    assert page.status_code == 401
    assert is_login_page(page)
    assert "The username or password is incorrect." in page.text
    assert form_fields(page)["username"] == "alice"
    assert SSO_COOKIE not in page.cookies
    assert SSO_COOKIE not in server.client.cookies


async def test_state_with_markup_survives_the_forms(server: Server) -> None:
    await web_client(server)
    state = "a\"b'<c>&d e=f"
    pkce = Pkce.new()
    query = authorize_query("web", pkce, state=state)
    page = await server.client.get("/oauth/authorize", params=query)
    assert "<c>" not in page.text  # escaped, not markup
    assert form_fields(page)["state"] == state
    assert await authorization_code(server, query)


async def test_repeated_resources_survive_the_forms(server: Server) -> None:
    web = await web_client(server, audiences={API, OTHER_API})
    pkce = Pkce.new()
    query = authorize_query("web", pkce)
    url = httpx.URL(
        "/oauth/authorize", params=[*query.items(), ("resource", API), ("resource", OTHER_API)]
    )
    login = await server.client.get(url)
    consent = await submit(server.client, login, {"username": "alice", "password": PASSWORD})
    answer = redirect_query(await submit(server.client, consent, {"decision": "allow"}))
    tokens = (await redeem(server, web, answer["code"], pkce)).json()
    assert claims_of(tokens["access_token"])["aud"] == [API, OTHER_API]


# --- consent ----------------------------------------------------------------------------------


async def test_login_then_consent_then_a_code(server: Server) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new())
    consent = await sign_in(server, query)
    assert is_consent_page(consent), consent.text[:300]
    assert consent.cookies.get(SSO_COOKIE)
    assert "openid" in consent.text and "profile" in consent.text
    answer = redirect_query(await submit(server.client, consent, {"decision": "allow"}))
    assert set(answer) == {"code", "state", "iss"}
    assert (answer["state"], answer["iss"]) == ("st-web", ISSUER)


async def test_deny_is_access_denied(server: Server) -> None:
    await web_client(server)
    consent = await sign_in(server, authorize_query("web", Pkce.new()))
    response = await submit(server.client, consent, {"decision": "deny"})
    assert redirect_query(response) == error_redirect(
        "access_denied", "The user denied the request."
    )


async def test_consent_is_remembered(server: Server) -> None:
    await web_client(server)
    await authorization_code(server, authorize_query("web", Pkce.new()))
    response = await server.client.get(
        "/oauth/authorize", params=authorize_query("web", Pkce.new())
    )
    assert "code" in redirect_query(response)


async def test_a_wider_scope_or_prompt_consent_asks_again(server: Server) -> None:
    await web_client(server)
    await authorization_code(server, authorize_query("web", Pkce.new(), scope="openid"))
    wider = await server.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert is_consent_page(wider)
    await submit(server.client, wider, {"decision": "allow"})
    asked = await server.client.get(
        "/oauth/authorize", params=authorize_query("web", Pkce.new(), prompt="consent")
    )
    assert is_consent_page(asked)


async def test_a_first_party_client_skips_consent(server: Server) -> None:
    await web_client(server, first_party=True)
    response = await sign_in(server, authorize_query("web", Pkce.new()))
    assert "code" in redirect_query(response)


# --- single sign-on ---------------------------------------------------------------------------


async def test_a_second_client_gets_a_code_without_a_password(server: Server) -> None:
    await web_client(server, first_party=True)
    second = await web_client(server, "second", first_party=True)
    await authorization_code(server, authorize_query("web", Pkce.new()))
    pkce = Pkce.new()
    response = await server.client.get("/oauth/authorize", params=authorize_query("second", pkce))
    answer = redirect_query(response)
    tokens = (await redeem(server, second, answer["code"], pkce)).json()
    assert claims_of(tokens["id_token"])["aud"] == "second"


async def test_the_session_is_the_browsers_own(server: Server) -> None:
    await signed_in(server)
    await web_client(server, first_party=True)
    async with another_browser(server) as browser:
        page = await browser.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert is_login_page(page)


async def test_the_session_ends_after_its_lifetime(server: Server) -> None:
    await signed_in(server)
    await web_client(server, first_party=True)
    server.clock.advance(12 * 3600 + 1)
    page = await server.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert is_login_page(page)


async def test_a_disabled_user_is_asked_to_sign_in_again(server: Server) -> None:
    await signed_in(server)
    await web_client(server, first_party=True)
    alice = await server.services.accounts.get_by_username("alice")
    await server.services.accounts.disable(alice.id)
    page = await server.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert is_login_page(page)


async def test_a_password_change_ends_the_browser_sessions(server: Server) -> None:
    await signed_in(server)
    await web_client(server, first_party=True)
    login = await server.login()
    server.clock.advance(1)  # the change comes after the sign-in, as it always does in time
    changed = await server.client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(login["access_token"]),
    )
    assert changed.status_code == 204
    query = authorize_query("web", Pkce.new(), prompt="none")
    response = await server.client.get("/oauth/authorize", params=query)
    assert redirect_query(response)["error"] == "login_required"


# --- prompt and max_age (OpenID Connect Core §3.1.2.1) ----------------------------------------


async def test_prompt_none_without_a_session_is_login_required(server: Server) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new(), prompt="none")
    response = await server.client.get("/oauth/authorize", params=query)
    assert redirect_query(response) == error_redirect("login_required", "The user must sign in.")


async def test_prompt_none_without_consent_is_consent_required(server: Server) -> None:
    await signed_in(server)
    await web_client(server)
    query = authorize_query("web", Pkce.new(), prompt="none")
    response = await server.client.get("/oauth/authorize", params=query)
    assert redirect_query(response) == error_redirect("consent_required", "The user must consent.")


async def test_prompt_none_with_a_session_and_consent_answers_at_once(server: Server) -> None:
    await signed_in(server)
    await web_client(server, first_party=True)
    query = authorize_query("web", Pkce.new(), prompt="none")
    response = await server.client.get("/oauth/authorize", params=query)
    assert "code" in redirect_query(response)


async def test_prompt_login_asks_for_the_password_again(server: Server) -> None:
    await signed_in(server)
    web = await web_client(server, first_party=True)
    server.clock.advance(100)
    tokens = await code_flow_tokens(server, web, prompt="login")
    assert claims_of(tokens["id_token"])["auth_time"] == int(server.clock.now())


@pytest.mark.parametrize(("elapsed", "asks"), [(301, True), (299, False)])
async def test_max_age(server: Server, elapsed: int, asks: bool) -> None:
    await signed_in(server)
    signed_in_at = int(server.clock.now())
    web = await web_client(server, first_party=True)
    server.clock.advance(elapsed)
    pkce = Pkce.new()
    query = authorize_query("web", pkce, max_age="300")
    response = await server.client.get("/oauth/authorize", params=query)
    assert is_login_page(response) is asks
    if asks:
        response = await submit(
            server.client, response, {"username": "alice", "password": PASSWORD}
        )
    tokens = (await redeem(server, web, redirect_query(response)["code"], pkce)).json()
    auth_time = claims_of(tokens["id_token"])["auth_time"]
    assert auth_time == (int(server.clock.now()) if asks else signed_in_at)


async def test_max_age_zero_always_asks(server: Server) -> None:
    # Core §3.1.2.1: max_age=0 is prompt=login, even within the second of the last sign-in.
    await signed_in(server)
    await web_client(server, first_party=True)
    query = authorize_query("web", Pkce.new(), max_age="0")
    page = await server.client.get("/oauth/authorize", params=query)
    assert is_login_page(page)


# --- errors redirected to the client (RFC 6749 §4.1.2.1) --------------------------------------


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        (
            {"scope": "openid admin"},
            "invalid_scope",
            "The client may not ask for the scope 'admin'.",
        ),
        ({"response_type": ""}, "invalid_request", "The response_type parameter is missing."),
        (
            {"response_mode": "fragment"},
            "invalid_request",
            "Only response_mode=query is supported.",
        ),
        (
            {"prompt": "none login"},
            "invalid_request",
            "The prompt parameter is none, login, consent or select_account; none alone.",
        ),
        (
            {"prompt": "create"},
            "invalid_request",
            "The prompt parameter is none, login, consent or select_account; none alone.",
        ),
        ({"max_age": "-1"}, "invalid_request", "The max_age parameter is a number of seconds."),
        ({"request": "eyJ.e30."}, "request_not_supported", "Request objects are not supported."),
        (
            {"request_uri": "https://x"},
            "request_uri_not_supported",
            "Request objects are not supported.",
        ),
        ({"state": "s" * 2049}, "invalid_request", "The state parameter is too long."),
    ],
)
async def test_errors_after_the_redirect_is_trusted_go_back_to_the_client(
    server: Server, change: dict[str, str], error: str, description: str
) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new(), **change)
    response = await server.client.get("/oauth/authorize", params=query)
    state = query["state"]
    assert redirect_query(response) == error_redirect(error, description, state)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_an_unknown_resource_is_invalid_target(server: Server) -> None:
    await web_client(server, audiences={API})
    query = authorize_query("web", Pkce.new(), resource="https://evil.example")
    response = await server.client.get("/oauth/authorize", params=query)
    assert redirect_query(response) == error_redirect(
        "invalid_target", "The client may not ask for the resource 'https://evil.example'."
    )


async def test_an_error_without_state_has_no_state(server: Server) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new(), scope="admin")
    del query["state"]
    response = await server.client.get("/oauth/authorize", params=query)
    assert redirect_query(response) == error_redirect(
        "invalid_scope", "The client may not ask for the scope 'admin'.", None
    )


async def test_a_client_without_the_code_grant_is_unauthorized(server: Server) -> None:
    # A client registered for the code flow, later changed: nothing else can have a redirect.
    await web_client(server, grant_types={"authorization_code"})
    client = await server.services.oauth.clients.get("web")
    assert client is not None
    await server.services.storage.clients.update(
        replace(client, grant_types=frozenset({"client_credentials"}))
    )
    server.clock.advance(10)  # past the registry's cache
    response = await server.client.get(
        "/oauth/authorize", params=authorize_query("web", Pkce.new())
    )
    assert redirect_query(response) == error_redirect(
        "unauthorized_client", "The client is not allowed to use this grant type."
    )


# --- errors shown to the user (RFC 6749 §4.1.2.1: never redirected) ---------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_id": ""}, "The request does not name its client (client_id)."),
        ({"client_id": "nobody"}, "The application that sent you here is not registered."),
        (
            {"redirect_uri": "http://localhost:9000/other"},
            "The return address is not registered for this application.",
        ),
    ],
)
async def test_an_untrusted_client_or_redirect_is_an_error_page(
    server: Server, change: dict[str, str], message: str
) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new(), **change)
    response = await server.client.get("/oauth/authorize", params=query)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert message in response.text


async def test_an_openid_request_must_name_its_redirect(server: Server) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new())
    del query["redirect_uri"]
    response = await server.client.get("/oauth/authorize", params=query)
    assert response.status_code == 400
    assert "The request does not say where to return (redirect_uri)." in response.text


async def test_a_plain_oauth_request_may_omit_its_only_redirect(server: Server) -> None:
    await web_client(server, first_party=True, audiences=(API,))
    query = authorize_query("web", Pkce.new(), scope="profile")
    del query["redirect_uri"]
    response = await sign_in(server, query)
    assert "code" in redirect_query(response)


async def test_a_repeated_parameter_is_an_error_page(server: Server) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new())
    url = httpx.URL("/oauth/authorize", params=[*query.items(), ("state", "second")])
    response = await server.client.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "The state parameter is repeated." in response.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example.com./cb",
        "https://my_app.example.com/cb",
        "http://LOCALHOST:9000/cb",
        "https://bücher.example/cb",
        "com.example.app:/oauth",
    ],
)
async def test_any_registrable_redirect_uri_gets_a_login_page(
    server: Server, redirect_uri: str
) -> None:
    # The pages' form-action lists the redirect origin when a CSP source can name it; a
    # redirect URI it cannot name must not turn the login page into a 500.
    await web_client(server, redirect_uris=(redirect_uri,))
    query = authorize_query("web", Pkce.new(), redirect_uri=redirect_uri)
    page = await server.client.get("/oauth/authorize", params=query)
    assert is_login_page(page), page.status_code


async def test_the_pages_let_the_form_answer_redirect_to_the_client(server: Server) -> None:
    await web_client(server, redirect_uris=("https://app.example.com:8443/cb",))
    query = authorize_query("web", Pkce.new(), redirect_uri="https://app.example.com:8443/cb")
    page = await server.client.get("/oauth/authorize", params=query)
    assert (
        "form-action 'self' https://app.example.com:8443;"
        in page.headers["content-security-policy"]
    )


async def test_an_issuer_with_its_default_port_accepts_its_own_forms(tmp_path: Path) -> None:
    # A browser's Origin never names the default port: http://localhost, not ...:80.
    async with running(settings_for(tmp_path, issuer="http://localhost:80")) as srv:
        await srv.add_user("alice")
        await web_client(srv, first_party=True)
        response = await sign_in(srv, authorize_query("web", Pkce.new()))
    answer = redirect_query(response)
    assert answer["iss"] == "http://localhost:80"


async def test_an_unknown_user_reads_as_a_wrong_password(server: Server) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new())
    wrong = await sign_in(server, query, password="wrong password!")
    page = await server.client.get("/oauth/authorize", params=query)
    unknown = await submit(server.client, page, {"username": "mallory", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    # The same page but for the name typed (the CSRF token is the browser's, so the same).
    assert wrong.text.replace('value="alice"', 'value="mallory"') == unknown.text


async def test_parameter_names_are_escaped_too(server: Server) -> None:
    await web_client(server)
    query = authorize_query("web", Pkce.new(), **{'x"><script>alert(1)</script>': "1"})
    page = await server.client.get("/oauth/authorize", params=query)
    assert is_login_page(page)
    assert "<script>" not in page.text


# --- cookies ----------------------------------------------------------------------------------


def cookie_attributes(response: httpx.Response, name: str) -> set[str]:
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return {a.strip().lower() for a in found[0].split(";")[1:]}


async def test_the_cookies_are_http_only_lax_and_host_wide(server: Server) -> None:
    await web_client(server)
    page = await server.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    consent = await submit(server.client, page, {"username": "alice", "password": PASSWORD})
    for response, name in ((page, CSRF_COOKIE), (consent, SSO_COOKIE)):
        attributes = cookie_attributes(response, name)
        assert {"httponly", "path=/", "samesite=lax"} <= attributes
        assert not any(a.startswith("domain") for a in attributes)
    assert "max-age=43200" in cookie_attributes(consent, SSO_COOKIE)


async def test_a_plain_http_issuer_off_loopback_still_gets_secure_cookies(tmp_path: Path) -> None:
    """Fail closed: browsers drop Secure cookies over HTTP, so SSO does not work there rather
    than send the session in the clear."""
    async with running(settings_for(tmp_path, issuer="http://auth.example.com")) as srv:
        await web_client(srv)
        page = await srv.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    assert "secure" in cookie_attributes(page, "__Host-" + CSRF_COOKIE)


async def test_on_https_the_cookies_are_secure_host_cookies(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, issuer="https://auth.example.com")) as srv:
        await web_client(srv)
        page = await srv.client.get("/oauth/authorize", params=authorize_query("web", Pkce.new()))
    attributes = cookie_attributes(page, "__Host-" + CSRF_COOKIE)
    assert {"httponly", "path=/", "samesite=lax", "secure"} <= attributes
