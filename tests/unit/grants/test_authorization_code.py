"""The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636, RFC 9700 §2.1.1) and the
OpenID Connect code flow: the two-step request check, consent, code issuance and redemption."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from ostiary.authn.client_auth import ClientCredentials
from ostiary.authn.client_registry import Registered
from ostiary.authn.client_settings import AUTHORIZATION_CODE
from ostiary.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    Revoked,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from ostiary.grants.authorization_code import hash_code
from ostiary.grants.authorization_endpoint import NoRedirectError
from ostiary.grants.base import OAuthParams
from ostiary.jose import parse_compact
from ostiary.storage.records import User
from tests.unit.grants._server import (
    AUDIENCE,
    CHALLENGE,
    ORDERS,
    REDIRECT,
    SERVER_AUDIENCES,
    SIGNING_KEY,
    T0,
    VERIFIER,
    OAuthServer,
    basic,
)


def params(client_id: str | None = "web", **changes: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid profile",
        "state": "xyz",
        "nonce": "n-0S6",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
async def web(server: OAuthServer) -> Registered:
    return await server.add_web_app()


@pytest.fixture
async def alice(server: OAuthServer) -> User:
    return await server.add_user()


# --- step one: client and redirect URI (never redirected) --------------------------------------


async def test_the_registered_redirect_uri_is_matched_exactly(
    server: OAuthServer, web: Registered
) -> None:
    client, redirect = await server.authorizations.client_and_redirect(params())
    assert (client.id, redirect) == ("web", REDIRECT)


@pytest.mark.usefixtures("web")
@pytest.mark.parametrize(
    "redirect_uri",
    [
        "",
        REDIRECT + "/",
        REDIRECT + "?next=/admin",
        REDIRECT + "#x",
        REDIRECT.upper(),
        REDIRECT.replace("https", "http"),
        REDIRECT.replace("app.example.test", "app.example.test.evil.example"),
        "https://evil.example/callback",
    ],
)
async def test_any_other_redirect_uri_is_never_redirected_to(
    server: OAuthServer, redirect_uri: str
) -> None:
    with pytest.raises(NoRedirectError, match="not registered"):
        await server.authorizations.client_and_redirect(params(redirect_uri=redirect_uri))


async def test_a_missing_or_unknown_client_is_never_redirected(server: OAuthServer) -> None:
    with pytest.raises(NoRedirectError, match="client_id"):
        await server.authorizations.client_and_redirect(params(client_id=""))
    with pytest.raises(NoRedirectError, match="not registered"):
        await server.authorizations.client_and_redirect(params(client_id="nobody"))


@pytest.mark.usefixtures("web")
async def test_without_redirect_uri_the_only_one_is_used_except_for_openid(
    server: OAuthServer,
) -> None:
    oauth_only = params(redirect_uri=None, scope="profile")
    assert (await server.authorizations.client_and_redirect(oauth_only))[1] == REDIRECT
    with pytest.raises(NoRedirectError, match="redirect_uri"):
        await server.authorizations.client_and_redirect(params(redirect_uri=None))


async def test_without_redirect_uri_a_client_with_two_must_say_which(
    server: OAuthServer,
) -> None:
    registered = await server.add_web_app()
    two = dataclasses.replace(
        registered.client, redirect_uris=(REDIRECT, "https://app.example.test/other")
    )
    await server.storage.clients.update(two)
    server.clock.advance(6)  # changed by another process: seen once the get-cache expires
    with pytest.raises(NoRedirectError, match="redirect_uri"):
        await server.authorizations.client_and_redirect(params(redirect_uri=None, scope="x"))


# --- step two: the rest of the request ---------------------------------------------------------


def check(server: OAuthServer, web: Registered, **changes: str | None) -> Any:
    return server.authorizations.check(params(**changes), (), web.client, REDIRECT)


def test_a_good_request_is_checked_into_its_parts(server: OAuthServer, web: Registered) -> None:
    checked = check(server, web, prompt="login consent", max_age="600")
    assert checked.client == web.client and checked.redirect_uri == REDIRECT
    assert (checked.scope, checked.state, checked.nonce) == ("openid profile", "xyz", "n-0S6")
    assert checked.code_challenge == CHALLENGE
    assert checked.prompt == {"login", "consent"} and checked.max_age == 600
    # Registered for no API: the token is for the UserInfo endpoint only.
    assert checked.audiences == (SERVER_AUDIENCES.userinfo,) and checked.openid


def test_no_scope_asked_gives_every_registered_scope(server: OAuthServer, web: Registered) -> None:
    checked = check(server, web, scope=None, nonce=None, state=None)
    assert checked.scope == "openid orders:read orders:write profile"
    assert (checked.state, checked.nonce, checked.prompt, checked.max_age) == (
        None,
        None,
        frozenset(),
        None,
    )
    # Registered for no API and no openid asked: there is nothing a token could be for.
    with pytest.raises(InvalidTarget, match="no resource"):
        check(server, web, scope="profile")


@pytest.mark.parametrize(
    ("name", "error"),
    [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")],
)
def test_request_objects_are_refused_with_the_openid_error_codes(
    server: OAuthServer, web: Registered, name: str, error: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check(server, web, **{name: "eyJhbGciOiJub25lIn0.e30."})
    assert caught.value.error == error
    assert caught.value.status_code == 400
    assert InvalidRequest.error == "invalid_request"  # the class itself is untouched


def test_response_type_is_code_only(server: OAuthServer, web: Registered) -> None:
    with pytest.raises(InvalidRequest, match="response_type"):
        check(server, web, response_type=None)
    for implicit in ("token", "id_token", "code id_token", "code token", "none"):
        with pytest.raises(UnsupportedResponseType):
            check(server, web, response_type=implicit)


def test_response_mode_is_query_only(server: OAuthServer, web: Registered) -> None:
    assert check(server, web, response_mode="query").scope
    for mode in ("fragment", "form_post", "web_message"):
        with pytest.raises(InvalidRequest, match="response_mode"):
            check(server, web, response_mode=mode)


def test_a_client_without_the_code_grant_is_unauthorized(
    server: OAuthServer, web: Registered
) -> None:
    without = dataclasses.replace(web.client, grant_types=frozenset({"client_credentials"}))
    with pytest.raises(UnauthorizedClient):
        server.authorizations.check(params(), (), without, REDIRECT)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code_challenge": None}, "PKCE is required"),
        ({"code_challenge": ""}, "PKCE is required"),
        ({"code_challenge_method": None}, "plain is refused"),  # RFC 7636 default: plain
        ({"code_challenge_method": "plain", "code_challenge": VERIFIER}, "plain is refused"),
        ({"code_challenge_method": "plain"}, "plain is refused"),
        ({"code_challenge_method": "s256"}, "plain is refused"),
        ({"code_challenge": CHALLENGE[:-1]}, "not a base64url SHA-256"),
        ({"code_challenge": CHALLENGE + "="}, "not a base64url SHA-256"),
        ({"code_challenge": "x" * 128}, "not a base64url SHA-256"),
    ],
)
def test_pkce_s256_is_required_at_authorize(
    server: OAuthServer, web: Registered, changes: dict[str, str | None], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check(server, web, **changes)


def test_a_scope_beyond_the_registered_ones_is_invalid_scope(
    server: OAuthServer, web: Registered
) -> None:
    with pytest.raises(InvalidScope):
        check(server, web, scope="openid admin")


@pytest.mark.parametrize(
    ("prompt", "parsed"),
    [
        ("", frozenset()),
        ("none", {"none"}),
        ("login", {"login"}),
        ("consent", {"consent"}),
        ("select_account", {"select_account"}),
        ("login  consent", {"login", "consent"}),
    ],
)
def test_prompt_values_that_are_accepted(
    server: OAuthServer, web: Registered, prompt: str, parsed: frozenset[str]
) -> None:
    assert check(server, web, prompt=prompt).prompt == parsed


@pytest.mark.parametrize("prompt", ["none login", "consent none", "bogus", "login bogus", "NONE"])
def test_prompt_none_stands_alone_and_unknown_values_are_refused(
    server: OAuthServer, web: Registered, prompt: str
) -> None:
    with pytest.raises(InvalidRequest, match="prompt"):
        check(server, web, prompt=prompt)


@pytest.mark.parametrize(("value", "seconds"), [("0", 0), ("3600", 3600), ("999999999", 999999999)])
def test_max_age_is_a_number_of_seconds(
    server: OAuthServer, web: Registered, value: str, seconds: int
) -> None:
    assert check(server, web, max_age=value).max_age == seconds


@pytest.mark.parametrize(
    "value",
    ["", "-1", "+5", "1.5", "1e3", " 60", "sixty", "1000000000", "\u00b2", "\u0661\u0662"],
)
def test_a_malformed_max_age_is_invalid_request(
    server: OAuthServer, web: Registered, value: str
) -> None:
    with pytest.raises(InvalidRequest, match="max_age"):
        check(server, web, max_age=value)


def test_state_and_nonce_lengths_are_capped(server: OAuthServer, web: Registered) -> None:
    assert check(server, web, state="s" * 2048, nonce="n" * 512).state == "s" * 2048
    with pytest.raises(InvalidRequest, match="The state parameter is too long"):
        check(server, web, state="s" * 2049)
    with pytest.raises(InvalidRequest, match="The nonce parameter is too long"):
        check(server, web, nonce="n" * 513)


async def test_resources_must_be_registered_audiences(server: OAuthServer) -> None:
    app = await server.add_web_app("orders-app", audiences=frozenset({ORDERS}))
    assert server.authorizations.check(params(), (ORDERS,), app.client, REDIRECT).audiences == (
        ORDERS,
    )
    with pytest.raises(InvalidTarget):
        server.authorizations.check(params(), (AUDIENCE,), app.client, REDIRECT)


# --- consent -----------------------------------------------------------------------------------


async def test_consent_is_asked_once_then_remembered(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    request = check(server, web, scope="openid profile")
    assert await server.authorizations.needs_consent(alice, request)
    await server.authorizations.remember_consent(alice, request)
    assert not await server.authorizations.needs_consent(alice, request)
    narrower = check(server, web, scope="openid")
    assert not await server.authorizations.needs_consent(alice, narrower)


async def test_a_wider_scope_asks_again_and_the_consent_is_widened(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    await server.authorizations.remember_consent(alice, check(server, web, scope="openid profile"))
    wider = check(server, web, scope="openid orders:read")
    assert await server.authorizations.needs_consent(alice, wider)
    server.clock.advance(10)
    await server.authorizations.remember_consent(alice, wider)
    consent = await server.storage.consents.get(alice.id, "web")
    assert consent is not None
    assert consent.scopes == {"openid", "profile", "orders:read"}
    assert consent.granted_at == T0 + 10
    both = check(server, web, scope="openid orders:read")
    assert not await server.authorizations.needs_consent(alice, both)


async def test_prompt_consent_asks_even_when_remembered(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    await server.authorizations.remember_consent(alice, check(server, web))
    assert await server.authorizations.needs_consent(alice, check(server, web, prompt="consent"))


async def test_consent_is_per_user_and_per_client(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    bob = await server.add_user("bob")
    other = await server.add_web_app("other")
    await server.authorizations.remember_consent(alice, check(server, web))
    assert await server.authorizations.needs_consent(bob, check(server, web))
    other_request = server.authorizations.check(params("other"), (), other.client, REDIRECT)
    assert await server.authorizations.needs_consent(alice, other_request)


async def test_a_first_party_client_never_asks_for_consent(
    server: OAuthServer, alice: User
) -> None:
    own = await server.add_web_app("own", first_party=True)
    for prompt in (None, "consent"):
        request = server.authorizations.check(
            params("own", prompt=prompt), (), own.client, REDIRECT
        )
        assert not await server.authorizations.needs_consent(alice, request)


# --- codes -------------------------------------------------------------------------------------


async def test_a_code_is_random_single_use_and_stored_only_as_its_hash(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    code = await server.code_for(web, alice, browser_session_id="bs_9", auth_time=T0 - 30)
    other = await server.code_for(web, alice)
    assert len(code) == 43 and code != other
    assert hash_code(code) == hashlib.sha256(code.encode()).hexdigest()
    assert await server.storage.codes.consume(code, now=T0) is None  # not stored in plaintext
    stored = await server.storage.codes.consume(hash_code(code), now=T0)
    assert stored is not None and stored.used_at is None
    assert (stored.client_id, stored.user_id, stored.redirect_uri) == ("web", alice.id, REDIRECT)
    assert (stored.scope, stored.audiences, stored.code_challenge) == (
        "openid profile",
        (SERVER_AUDIENCES.userinfo,),
        CHALLENGE,
    )
    assert (stored.nonce, stored.auth_time, stored.browser_session_id) == ("n-0S6", T0 - 30, "bs_9")
    assert (stored.issued_at, stored.expires_at) == (T0, T0 + 60)


async def test_redeeming_a_code_gives_access_refresh_and_id_tokens(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    code = await server.code_for(web, alice, browser_session_id="bs_1", auth_time=T0 - 100)
    server.clock.advance(5)
    response = await server.redeem(web, code)
    body = response.body()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "refresh_token",
        "refresh_token_expires_in",
        "id_token",
    }
    assert body["scope"] == "openid profile" and body["refresh_token_expires_in"] == 7 * 86_400
    claims = await server.verifier(SERVER_AUDIENCES.userinfo).verify(body["access_token"])
    assert (claims.sub, claims.client_id, claims.scopes) == (
        alice.id,
        "web",
        frozenset({"openid", "profile"}),
    )
    assert claims.raw["roles"] == []  # no "roles" scope: the user's roles stay out
    family = await server.storage.sessions.get(claims.sid or "")
    assert family is not None
    assert (family.client_id, family.user_id, family.browser_session_id) == (
        "web",
        alice.id,
        "bs_1",
    )
    used = await server.storage.codes.consume(hash_code(code), now=T0)
    assert used is not None and used.used_at == T0 + 5 and used.session_id == family.id
    id_claims = parse_compact(body["id_token"]).verify(SIGNING_KEY)
    assert (id_claims["aud"], id_claims["sub"], id_claims["nonce"]) == ("web", alice.id, "n-0S6")
    assert (id_claims["sid"], id_claims["auth_time"]) == ("bs_1", int(T0 - 100))
    assert id_claims["preferred_username"] == "alice"
    # The refresh token works for its client.
    refreshed = await server.refresh_with(web, body["refresh_token"])
    assert refreshed.scope == "openid profile"


async def test_without_openid_no_id_token_and_without_the_refresh_grant_no_refresh_token(
    server: OAuthServer, alice: User
) -> None:
    app = await server.add_web_app("norefresh", refresh=False, audiences=frozenset({ORDERS}))
    response = await server.redeem(app, await server.code_for(app, alice, scope="orders:read"))
    assert response.id_token is None and response.refresh_token is None
    assert response.refresh_expires_in is None
    assert response.scope == "orders:read"


async def test_profile_claims_need_the_profile_scope(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    response = await server.redeem(web, await server.code_for(web, alice, scope="openid"))
    assert response.id_token is not None
    claims = parse_compact(response.id_token).verify(SIGNING_KEY)
    assert "preferred_username" not in claims


async def test_a_public_client_redeems_with_pkce_alone(server: OAuthServer, alice: User) -> None:
    spa = await server.add_web_app("spa", public=True)
    response = await server.redeem(spa, await server.code_for(spa, alice))
    assert response.refresh_token is not None


@pytest.mark.parametrize(
    "verifier",
    [None, "", VERIFIER[:-1] + "A", VERIFIER[:42], CHALLENGE, VERIFIER + " "],
)
async def test_a_missing_wrong_or_malformed_verifier_is_invalid_grant_and_burns_the_code(
    server: OAuthServer, web: Registered, alice: User, verifier: str | None
) -> None:
    code = await server.code_for(web, alice)
    with pytest.raises(InvalidGrant):
        await server.redeem(web, code, verifier=verifier)
    # No second guess at the verifier: the code is spent.
    with pytest.raises(InvalidGrant):
        await server.redeem(web, code)


async def test_a_reused_code_revokes_the_family_and_its_access_tokens(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    code = await server.code_for(web, alice)
    first = await server.redeem(web, code)
    claims = await server.verifier(SERVER_AUDIENCES.userinfo).verify(first.access.token)
    assert not server.revocations.local.is_revoked(claims)
    server.clock.advance(10)
    with pytest.raises(InvalidGrant) as caught:
        await server.redeem(web, code)
    assert "reused" in (caught.value.detail or "")
    family = await server.storage.sessions.get(claims.sid or "")
    assert family is not None and family.revoked_at == T0 + 10
    assert server.revocations.local.is_revoked(claims)
    with pytest.raises(Revoked):
        await server.verifier(SERVER_AUDIENCES.userinfo).verify(first.access.token)
    entries = await server.storage.revocations.since(0)
    assert [(e.kind.value, e.value) for e in entries] == [("sid", claims.sid)]
    assert first.refresh_token is not None
    with pytest.raises(InvalidGrant):
        await server.refresh_with(web, first.refresh_token)


async def test_a_code_expires_after_60_seconds(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    fresh, stale = await server.code_for(web, alice), await server.code_for(web, alice)
    server.clock.advance(59)
    await server.redeem(web, fresh)
    server.clock.advance(1)
    with pytest.raises(InvalidGrant) as caught:
        await server.redeem(web, stale)
    assert "expired" in (caught.value.detail or "")


async def test_a_code_is_redeemed_only_by_its_own_client(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    other = await server.add_web_app("other")
    code = await server.code_for(web, alice)
    with pytest.raises(InvalidGrant) as caught:
        await server.redeem(other, code)
    assert "presented by other" in (caught.value.detail or "")
    # Nothing was issued to anyone.
    assert await server.storage.sessions.list_for_user(alice.id, now=T0) == []


async def test_a_redirect_uri_other_than_the_authorized_one_is_invalid_grant(
    server: OAuthServer, alice: User
) -> None:
    two = await server.add_web_app("two")
    await server.storage.clients.update(
        dataclasses.replace(two.client, redirect_uris=(REDIRECT, "https://app.example.test/b"))
    )
    server.clock.advance(6)  # past the registry's get-cache
    code = await server.code_for(two, alice)
    with pytest.raises(InvalidGrant) as caught:
        await server.redeem(two, code, redirect_uri="https://app.example.test/b")
    assert "redirect_uri" in (caught.value.detail or "")


async def test_unknown_or_missing_codes(server: OAuthServer, web: Registered) -> None:
    with pytest.raises(InvalidGrant):
        await server.redeem(web, "no-such-code")
    with pytest.raises(InvalidRequest, match="code"):
        await server.endpoint.exchange(basic(web), OAuthParams({"grant_type": AUTHORIZATION_CODE}))


async def test_a_disabled_user_gets_nothing_for_a_code(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    code = await server.code_for(web, alice)
    await server.accounts.disable(alice.id)
    with pytest.raises(InvalidGrant):
        await server.redeem(web, code)
    assert await server.storage.sessions.list_for_user(alice.id, now=T0) == []


async def test_a_code_dies_with_the_sign_in_it_came_from(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    code = await server.code_for(web, alice, browser_session_id="bs_gone")
    await server.storage.browser_sessions.revoke("bs_gone", now=T0)  # logged out meanwhile
    with pytest.raises(InvalidGrant):
        await server.redeem(web, code)
    assert await server.storage.sessions.list_for_user(alice.id, now=T0) == []


async def test_the_family_keeps_the_audiences_of_the_code(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    tokens = await server.redeem(web, await server.code_for(web, alice))
    (family,) = await server.storage.sessions.list_for_user(alice.id, now=T0)
    request = server.authorization_request(web)
    assert family.audiences == request.audiences
    assert tokens.refresh_token is not None


async def test_a_code_of_a_public_client_needs_no_secret_but_its_id(
    server: OAuthServer, alice: User
) -> None:
    spa = await server.add_web_app("spa", public=True)
    code = await server.code_for(spa, alice)
    request = OAuthParams(
        {
            "grant_type": AUTHORIZATION_CODE,
            "code": code,
            "code_verifier": VERIFIER,
            "redirect_uri": REDIRECT,
        }
    )
    with pytest.raises(InvalidClient):
        await server.endpoint.exchange(ClientCredentials(), request)
    response = await server.endpoint.exchange(ClientCredentials(client_id="spa"), request)
    assert response.access.token
