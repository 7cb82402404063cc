"""RFC 6750 behaviour of the Flask integration, black-box over Flask's test client."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ostiary.clock import FrozenClock
from ostiary.keys import generate_key
from ostiary.resource import TokenVerifier
from ostiary.resource.flask import OstiaryFlask, current_claims
from tests.unit.resource._tokens import T0, mint

from . import _expect as x
from ._bearer import KEY

STRANGER = generate_key("ES256")


def build_app(verifier: TokenVerifier) -> Flask:
    app = Flask(__name__)
    auth = OstiaryFlask(app, verifier)

    @app.get("/me")
    @auth.require_token
    def me() -> dict[str, Any]:
        claims = current_claims()
        return {"sub": claims.sub, "scopes": sorted(claims.scopes), "roles": sorted(claims.roles)}

    @app.get("/orders")
    @auth.require_scopes("orders:read")
    def orders() -> dict[str, Any]:
        return {"orders": []}

    @app.post("/orders")
    @auth.require_scopes("orders:read", "orders:write")
    def create_order() -> dict[str, Any]:
        return {"created": True}

    @app.get("/admin")
    @auth.require_roles("admin")
    def admin() -> dict[str, Any]:
        return {"admin": current_claims().sub}

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"public": True}

    return app


@pytest.fixture
def client(verifier: TokenVerifier) -> FlaskClient:
    return build_app(verifier).test_client()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def assert_error(
    r: TestResponse,
    status: int,
    error: str,
    description: str,
    *,
    scope: str | None = None,
    secret: str | None = None,
) -> None:
    assert r.status_code == status
    assert r.headers.getlist("WWW-Authenticate") == [x.challenge(error, description, scope=scope)]
    assert r.headers["Cache-Control"] == "no-store"
    assert r.mimetype == "application/json"
    assert r.get_json() == x.body(error, description, scope=scope)
    if secret is not None:
        assert secret not in r.get_data(as_text=True)
        assert all(secret not in v for _, v in r.headers.items())


def assert_no_credentials(r: TestResponse) -> None:
    assert r.status_code == 401
    assert r.headers.getlist("WWW-Authenticate") == [x.NO_CREDENTIALS_CHALLENGE]
    assert r.headers["Cache-Control"] == "no-store"
    assert r.get_json() == x.NO_CREDENTIALS_BODY


def test_valid_token(client: FlaskClient, clock: FrozenClock) -> None:
    tok = mint(KEY, now=clock.now(), sub="alice", scope="orders:read profile", roles=["viewer"])
    r = client.get("/me", headers=bearer(tok))
    assert r.status_code == 200
    assert r.get_json() == {
        "sub": "alice",
        "scopes": ["orders:read", "profile"],
        "roles": ["viewer"],
    }
    assert "WWW-Authenticate" not in r.headers
    assert client.get("/orders", headers=bearer(tok)).get_json() == {"orders": []}


@pytest.mark.parametrize("path", ["/me", "/orders", "/admin"])
def test_no_credentials(client: FlaskClient, path: str) -> None:
    assert_no_credentials(client.get(path))


def test_another_scheme_counts_as_no_bearer_credentials(client: FlaskClient) -> None:
    assert_no_credentials(client.get("/me", headers={"Authorization": "Basic dTpw"}))


@pytest.mark.parametrize(
    ("key", "age", "overrides", "description"),
    [
        (KEY, 1000, {}, x.EXPIRED),
        (KEY, 0, {"audience": "another-api"}, x.WRONG_AUDIENCE),
        (STRANGER, 0, {}, x.UNKNOWN_KEY),
    ],
)
def test_invalid_token(
    client: FlaskClient,
    clock: FrozenClock,
    key: Any,
    age: int,
    overrides: dict[str, Any],
    description: str,
) -> None:
    tok = mint(key, now=clock.now() - age, **overrides)
    assert_error(
        client.get("/me", headers=bearer(tok)), 401, "invalid_token", description, secret=tok
    )


def test_malformed_token(client: FlaskClient) -> None:
    assert_error(
        client.get("/orders", headers=bearer("not-a-jwt")), 401, "invalid_token", x.MALFORMED
    )


def test_revoked_token(client: FlaskClient, clock: FrozenClock, verifier: TokenVerifier) -> None:
    tok = mint(KEY, now=clock.now(), sid="s-9")
    assert client.get("/me", headers=bearer(tok)).status_code == 200
    verifier.revoke_session("s-9", until=T0 + 300)
    assert_error(
        client.get("/me", headers=bearer(tok)), 401, "invalid_token", x.REVOKED, secret=tok
    )


def test_missing_scope(client: FlaskClient, clock: FrozenClock) -> None:
    tok = mint(KEY, now=clock.now(), scope="profile")
    assert_error(
        client.get("/orders", headers=bearer(tok)),
        403,
        "insufficient_scope",
        x.INSUFFICIENT_SCOPE,
        scope="orders:read",
        secret=tok,
    )
    partial = mint(KEY, now=clock.now(), scope="orders:read")
    assert_error(
        client.post("/orders", headers=bearer(partial)),
        403,
        "insufficient_scope",
        x.INSUFFICIENT_SCOPE,
        scope="orders:read orders:write",
    )
    full = mint(KEY, now=clock.now(), scope="orders:read orders:write")
    assert client.post("/orders", headers=bearer(full)).get_json() == {"created": True}


def test_require_roles(client: FlaskClient, clock: FrozenClock) -> None:
    viewer = mint(KEY, now=clock.now(), roles=["viewer"], scope="admin")
    assert_error(
        client.get("/admin", headers=bearer(viewer)),
        403,
        "insufficient_scope",
        x.MISSING_ROLE,
        secret=viewer,
    )
    admin = mint(KEY, now=clock.now(), sub="root", roles=["admin"])
    r = client.get("/admin", headers=bearer(admin))
    assert r.status_code == 200
    assert r.get_json() == {"admin": "root"}


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer tok@n"])
def test_malformed_authorization_header(client: FlaskClient, header: str) -> None:
    assert_error(
        client.get("/me", headers={"Authorization": header}),
        400,
        "invalid_request",
        x.MALFORMED_HEADER,
    )


def test_two_authorization_headers(client: FlaskClient, clock: FrozenClock) -> None:
    """WSGI folds repeated headers into one value ("a, b"), which is no longer one
    well-formed credential: still a 400 invalid_request."""
    a, b = mint(KEY, now=clock.now()), mint(KEY, now=clock.now())
    r = client.get(
        "/me", headers=[("Authorization", f"Bearer {a}"), ("Authorization", f"Bearer {b}")]
    )
    assert_error(r, 400, "invalid_request", x.MALFORMED_HEADER, secret=a)
    assert b not in r.get_data(as_text=True)


@pytest.mark.parametrize("name", ["access_token", "access%5Ftoken"])
def test_token_in_the_query_is_refused_even_alone(
    client: FlaskClient, clock: FrozenClock, name: str
) -> None:
    tok = mint(KEY, now=clock.now())
    r = client.get(f"/me?{name}={tok}")
    assert_error(r, 400, "invalid_request", x.QUERY_TOKEN, secret=tok)
    r = client.get("/orders", query_string=f"{name}={tok}", headers=bearer(tok))
    assert_error(r, 400, "invalid_request", x.QUERY_TOKEN, secret=tok)


def test_unguarded_view_needs_nothing(client: FlaskClient) -> None:
    r = client.get("/public")
    assert r.status_code == 200
    assert r.get_json() == {"public": True}


def test_current_claims_outside_a_guarded_view(verifier: TokenVerifier) -> None:
    app = build_app(verifier)
    with app.test_request_context("/"), pytest.raises(RuntimeError):
        current_claims()


def test_extension_needs_a_verifier() -> None:
    with pytest.raises(RuntimeError):
        OstiaryFlask(Flask(__name__))
    with pytest.raises(ValueError):
        OstiaryFlask().require_scopes()
