"""What every grant shares: the request, the response body (RFC 6749 §5.1), the scope
(§3.3) and the audiences (RFC 8707 §2)."""

from __future__ import annotations

import pytest

from ostiary.errors import InvalidRequest, InvalidScope, InvalidTarget
from ostiary.grants.base import IssuedTokens, OAuthParams, requested_audiences, requested_scope
from ostiary.storage.records import Client, ClientAuthMethod
from ostiary.tokens.access import IssuedToken
from tests.unit.grants._server import AUDIENCE, BILLING, ORDERS, SERVER_AUDIENCES, T0

ALLOWED = frozenset({"orders:read", "orders:write", "profile"})


def client_for(audiences: frozenset[str]) -> Client:
    return Client(
        id="svc",
        name="Service",
        auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
        secret_hash="0" * 64,
        jwks=None,
        redirect_uris=(),
        post_logout_redirect_uris=(),
        grant_types=frozenset({"client_credentials"}),
        scopes=ALLOWED,
        audiences=audiences,
        first_party=False,
        created_at=T0,
        updated_at=T0,
    )


# --- OAuthParams ------------------------------------------------------------------------------


def test_require_refuses_a_missing_or_empty_parameter() -> None:
    request = OAuthParams({"code": "abc", "empty": ""})
    assert request.require("code") == "abc"
    assert request.get("missing") is None
    for name in ("missing", "empty"):
        with pytest.raises(InvalidRequest, match=name):
            request.require(name)


def test_the_repr_of_a_request_shows_no_secret() -> None:
    request = OAuthParams(
        {"grant_type": "authorization_code", "code": "c0de-s3cret", "code_verifier": "v3rifier"}
    )
    assert repr(request) == "OAuthParams(grant_type='authorization_code')"


# --- IssuedTokens -----------------------------------------------------------------------------

ISSUED = IssuedToken(token="eyJ.access.token", jti="j1", expires_at=int(T0) + 900, expires_in=900)


def test_a_minimal_body_has_exactly_the_rfc_6749_members() -> None:
    body = IssuedTokens(access=ISSUED, scope="orders:read").body()
    assert body == {
        "access_token": "eyJ.access.token",
        "token_type": "Bearer",
        "expires_in": 900,
        "scope": "orders:read",
    }


def test_a_full_body_carries_the_refresh_and_id_tokens() -> None:
    response = IssuedTokens(
        access=ISSUED,
        scope="openid",
        refresh_token="r3fresh",
        refresh_expires_in=604_800,
        id_token="eyJ.id.token",
    )
    assert response.body() == {
        "access_token": "eyJ.access.token",
        "token_type": "Bearer",
        "expires_in": 900,
        "scope": "openid",
        "refresh_token": "r3fresh",
        "refresh_token_expires_in": 604_800,
        "id_token": "eyJ.id.token",
    }
    assert "r3fresh" not in repr(response) and "eyJ" not in repr(response)


# --- scope -------------------------------------------------------------------------------------


def test_no_scope_asked_gives_the_default_within_what_is_allowed() -> None:
    assert requested_scope(None, ALLOWED, default=ALLOWED) == "orders:read orders:write profile"
    assert requested_scope(None, ALLOWED, default={"profile", "admin"}) == "profile"
    assert requested_scope(None, ALLOWED, default=()) == ""
    # RFC 6749 §3.3: a scope is one or more tokens; an empty one asks for nothing in particular.
    assert requested_scope("", ALLOWED, default={"profile"}) == "profile"
    assert requested_scope("  ", ALLOWED, default={"profile"}) == "profile"


def test_the_scope_asked_is_granted_canonical_when_all_of_it_is_allowed() -> None:
    assert requested_scope("profile  orders:read profile", ALLOWED, default=()) == (
        "orders:read profile"
    )


def test_one_scope_beyond_the_allowed_refuses_the_whole_request() -> None:
    with pytest.raises(InvalidScope) as caught:
        requested_scope("orders:read admin", ALLOWED, default=ALLOWED)
    assert "'admin'" in caught.value.description


@pytest.mark.parametrize("value", ['orders:read "x"', "a\\b", "caf\u00e9"])
def test_a_malformed_scope_is_invalid_scope(value: str) -> None:
    with pytest.raises(InvalidScope, match="malformed"):
        requested_scope(value, ALLOWED, default=ALLOWED)


# --- audiences (RFC 8707) ----------------------------------------------------------------------


def test_no_resource_gives_every_registered_audience_sorted() -> None:
    client = client_for(frozenset({ORDERS, BILLING}))
    assert requested_audiences((), client) == (BILLING, ORDERS)
    userinfo = SERVER_AUDIENCES.userinfo
    assert requested_audiences((), client, userinfo=userinfo) == (BILLING, ORDERS, userinfo)


def test_no_resource_and_no_registered_audience_gives_userinfo_with_openid_else_nothing() -> None:
    """RFC 9700 §2.3: never a default audience of the server's own APIs."""
    userinfo = SERVER_AUDIENCES.userinfo
    assert requested_audiences((), client_for(frozenset()), userinfo=userinfo) == (userinfo,)
    with pytest.raises(InvalidTarget, match="no resource"):
        requested_audiences((), client_for(frozenset()))


def test_resources_asked_are_kept_in_order_without_repeats() -> None:
    client = client_for(frozenset({ORDERS, BILLING}))
    assert requested_audiences((ORDERS, BILLING, ORDERS), client) == (
        ORDERS,
        BILLING,
    )


@pytest.mark.parametrize("registered", [frozenset({ORDERS}), frozenset()])
def test_a_resource_the_client_is_not_registered_for_is_invalid_target(
    registered: frozenset[str],
) -> None:
    # Not even the server's own audiences, unless registered.
    own = SERVER_AUDIENCES
    for asked in ((BILLING,), (ORDERS, BILLING), (AUDIENCE,), (own.account,), (own.userinfo,)):
        if set(asked) <= registered:
            continue
        with pytest.raises(InvalidTarget) as caught:
            requested_audiences(asked, client_for(registered), userinfo=own.userinfo)
        assert caught.value.error == "invalid_target"
