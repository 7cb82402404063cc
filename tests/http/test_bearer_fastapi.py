"""RFC 6750 behaviour of the FastAPI integration, black-box over httpx.ASGITransport.

Every route is tried with the middleware installed and without it (then the dependencies
verify the token themselves): the answers must be the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from ostiary.clock import FrozenClock
from ostiary.jose import JWK
from ostiary.keys import generate_key
from ostiary.resource import AccessClaims, JWKSPolicy, TokenVerifier
from ostiary.resource.fastapi import CurrentClaims, install, require_roles, require_scopes
from ostiary.resource.middleware import STATE_KEY
from tests.unit.resource._jwks_server import closed_port
from tests.unit.resource._tokens import AUDIENCE, ISSUER, T0, mint

from . import _expect as x
from ._bearer import KEY

STRANGER = generate_key("ES256")


def build_app(verifier: TokenVerifier, *, middleware: bool) -> FastAPI:
    app = FastAPI()
    install(app, verifier, public_paths={"/public"}, middleware=middleware)

    @app.get("/me")
    async def me(claims: CurrentClaims) -> dict[str, Any]:
        return {"sub": claims.sub, "scopes": sorted(claims.scopes), "roles": sorted(claims.roles)}

    @app.get("/orders", dependencies=[require_scopes("orders:read")])
    async def orders() -> dict[str, Any]:
        return {"orders": []}

    @app.post("/orders", dependencies=[require_scopes("orders:read", "orders:write")])
    async def create_order() -> dict[str, Any]:
        return {"created": True}

    @app.get("/admin", dependencies=[require_roles("admin")])
    async def admin(claims: CurrentClaims) -> dict[str, Any]:
        return {"admin": claims.sub}

    @app.get("/public")
    async def public(request: Request) -> dict[str, Any]:
        claims = request.scope.get("state", {}).get(STATE_KEY)
        return {"sub": claims.sub if isinstance(claims, AccessClaims) else None}

    return app


@pytest.fixture(params=[True, False], ids=["middleware", "dependencies"])
def middleware(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


@pytest.fixture
async def client(verifier: TokenVerifier, middleware: bool) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(verifier, middleware=middleware)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def token(clock: FrozenClock, key: JWK = KEY, **overrides: Any) -> str:
    return mint(key, now=clock.now(), **overrides)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def assert_error(
    response: httpx.Response,
    status: int,
    error: str,
    description: str,
    *,
    scope: str | None = None,
    secret: str | None = None,
) -> None:
    assert response.status_code == status
    assert response.headers.get_list("www-authenticate") == [
        x.challenge(error, description, scope=scope)
    ]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == x.body(error, description, scope=scope)
    if secret is not None:
        assert secret not in response.text
        assert all(secret not in v for v in response.headers.values())


def assert_no_credentials(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers.get_list("www-authenticate") == [x.NO_CREDENTIALS_CHALLENGE]
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == x.NO_CREDENTIALS_BODY
    assert "error" not in response.json()


# --- success ---------------------------------------------------------------------------------


async def test_valid_token(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    tok = token(clock, sub="alice", scope="orders:read profile", roles=["viewer"])
    r = await client.get("/me", headers=bearer(tok))
    assert r.status_code == 200
    assert r.json() == {"sub": "alice", "scopes": ["orders:read", "profile"], "roles": ["viewer"]}
    assert "www-authenticate" not in r.headers
    assert (await client.get("/orders", headers=bearer(tok))).json() == {"orders": []}


async def test_scheme_is_case_insensitive(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    tok = token(clock, sub="alice")
    r = await client.get("/me", headers={"Authorization": f"bEaReR {tok}"})
    assert r.status_code == 200
    assert r.json()["sub"] == "alice"


# --- no credentials (RFC 6750 §3.1: no error code) -------------------------------------------


@pytest.mark.parametrize("path", ["/me", "/orders", "/admin"])
async def test_no_credentials(client: httpx.AsyncClient, path: str) -> None:
    assert_no_credentials(await client.get(path))


async def test_another_scheme_counts_as_no_bearer_credentials(client: httpx.AsyncClient) -> None:
    assert_no_credentials(await client.get("/me", headers={"Authorization": "Basic dTpw"}))


# --- invalid_token ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"now": T0 - 1000}, x.EXPIRED),
        ({"audience": "another-api"}, x.WRONG_AUDIENCE),
        ({"key": STRANGER}, x.UNKNOWN_KEY),
    ],
)
async def test_invalid_token(
    client: httpx.AsyncClient, clock: FrozenClock, overrides: dict[str, Any], description: str
) -> None:
    claims = dict(overrides)  # the parameter is shared by both runs: do not change it
    key = claims.pop("key", KEY)
    now = claims.pop("now", clock.now())
    tok = mint(key, now=now, **claims)
    r = await client.get("/me", headers=bearer(tok))
    assert_error(r, 401, "invalid_token", description, secret=tok)


async def test_bad_signature(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    head, payload, _ = token(clock).split(".")
    forged = f"{head}.{payload}.{token(clock).split('.')[2]}"
    r = await client.get("/me", headers=bearer(forged))
    assert_error(r, 401, "invalid_token", x.BAD_SIGNATURE, secret=forged)


@pytest.mark.parametrize("garbage", ["not-a-jwt", "abc.def.ghi", "a.b.c.d.e"])
async def test_malformed_token(client: httpx.AsyncClient, garbage: str) -> None:
    r = await client.get("/orders", headers=bearer(garbage))
    assert_error(r, 401, "invalid_token", x.MALFORMED)


async def test_revoked_token(
    client: httpx.AsyncClient, clock: FrozenClock, verifier: TokenVerifier
) -> None:
    tok = token(clock, jti="jti-http")
    assert (await client.get("/me", headers=bearer(tok))).status_code == 200
    verifier.revoke_token("jti-http", expires_at=T0 + 300)
    r = await client.get("/me", headers=bearer(tok))
    assert_error(r, 401, "invalid_token", x.REVOKED, secret=tok)


# --- insufficient_scope ----------------------------------------------------------------------


async def test_missing_scope(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    tok = token(clock, scope="profile")
    r = await client.get("/orders", headers=bearer(tok))
    assert_error(
        r, 403, "insufficient_scope", x.INSUFFICIENT_SCOPE, scope="orders:read", secret=tok
    )


async def test_scope_challenge_names_every_scope_needed(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tok = token(clock, scope="orders:read")
    r = await client.post("/orders", headers=bearer(tok))
    assert_error(
        r, 403, "insufficient_scope", x.INSUFFICIENT_SCOPE, scope="orders:read orders:write"
    )
    ok = token(clock, scope="orders:write orders:read")
    assert (await client.post("/orders", headers=bearer(ok))).json() == {"created": True}


async def test_no_scope_claim_at_all(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    r = await client.get("/orders", headers=bearer(token(clock, scope=None)))
    assert_error(r, 403, "insufficient_scope", x.INSUFFICIENT_SCOPE, scope="orders:read")


async def test_require_roles(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    viewer = token(clock, roles=["viewer"])
    r = await client.get("/admin", headers=bearer(viewer))
    assert_error(r, 403, "insufficient_scope", x.MISSING_ROLE, secret=viewer)
    no_roles = token(clock, roles=None)
    assert_error(
        await client.get("/admin", headers=bearer(no_roles)),
        403,
        "insufficient_scope",
        x.MISSING_ROLE,
    )
    admin = token(clock, sub="root", roles=["viewer", "admin"])
    r = await client.get("/admin", headers=bearer(admin))
    assert r.status_code == 200
    assert r.json() == {"admin": "root"}
    # A scope named like the role is not the role.
    r = await client.get("/admin", headers=bearer(token(clock, scope="admin", roles=[])))
    assert r.status_code == 403


# --- invalid_request -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer a b", "Bearer tok@n", "Bearer ey,J", 'Bearer "abc"'],
)
async def test_malformed_authorization_header(client: httpx.AsyncClient, header: str) -> None:
    r = await client.get("/me", headers={"Authorization": header})
    assert_error(r, 400, "invalid_request", x.MALFORMED_HEADER)


async def test_two_authorization_headers(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    a, b = token(clock), token(clock)
    r = await client.get(
        "/me", headers=[("Authorization", f"Bearer {a}"), ("Authorization", f"Bearer {b}")]
    )
    assert_error(r, 400, "invalid_request", x.TWO_HEADERS, secret=a)
    assert b not in r.text


@pytest.mark.parametrize("name", ["access_token", "access%5Ftoken", "%61ccess_token"])
async def test_token_in_the_query_is_refused_even_alone(
    client: httpx.AsyncClient, clock: FrozenClock, name: str
) -> None:
    tok = token(clock)
    r = await client.get(f"/me?{name}={tok}")
    assert_error(r, 400, "invalid_request", x.QUERY_TOKEN, secret=tok)
    r = await client.get(f"/orders?page=2&{name}={tok}")
    assert_error(r, 400, "invalid_request", x.QUERY_TOKEN, secret=tok)


async def test_token_in_the_query_is_refused_beside_a_header(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tok = token(clock)
    r = await client.get("/me", params={"access_token": tok}, headers=bearer(tok))
    assert_error(r, 400, "invalid_request", x.QUERY_TOKEN, secret=tok)
    r = await client.get("/me", params={"access_token": ""}, headers=bearer(tok))
    assert_error(r, 400, "invalid_request", x.QUERY_TOKEN)


async def test_other_query_parameters_are_fine(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tok = token(clock, sub="alice")
    r = await client.get(
        "/me", params={"q": "access_token", "my_access_token": "1"}, headers=bearer(tok)
    )
    assert r.status_code == 200
    assert r.json()["sub"] == "alice"


# --- public paths ----------------------------------------------------------------------------


async def test_public_path(client: httpx.AsyncClient, clock: FrozenClock, middleware: bool) -> None:
    r = await client.get("/public")
    assert r.status_code == 200
    assert r.json() == {"sub": None}
    r = await client.get("/public", headers=bearer(token(clock, sub="alice")))
    assert r.status_code == 200
    # With the middleware, a token sent to a public path is verified and its claims kept.
    assert r.json() == {"sub": "alice" if middleware else None}


async def test_public_path_still_refuses_a_bad_token_under_the_middleware(
    verifier: TokenVerifier, clock: FrozenClock
) -> None:
    app = build_app(verifier, middleware=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        expired = mint(KEY, now=clock.now() - 1000)
        r = await c.get("/public", headers=bearer(expired))
        assert_error(r, 401, "invalid_token", x.EXPIRED, secret=expired)
        r = await c.get("/public?access_token=abc")
        assert_error(r, 400, "invalid_request", x.QUERY_TOKEN)


async def test_public_paths_are_exact(clock: FrozenClock, verifier: TokenVerifier) -> None:
    app = build_app(verifier, middleware=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        assert_no_credentials(await c.get("/public/"))
        assert_no_credentials(await c.get("/publicity"))


# --- keys unavailable ------------------------------------------------------------------------


async def test_keys_unavailable_is_503(clock: FrozenClock, middleware: bool) -> None:
    verifier = TokenVerifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=f"http://127.0.0.1:{closed_port()}/jwks",
        jwks_policy=JWKSPolicy(timeout=0.5),
        clock=clock,
    )
    app = build_app(verifier, middleware=middleware)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        tok = token(clock)
        r = await c.get("/me", headers=bearer(tok))
        # Not an authentication failure: no Bearer challenge, a Retry-After instead.
        assert r.status_code == 503
        assert "www-authenticate" not in r.headers
        assert r.headers["retry-after"] == "10"
        assert r.headers["cache-control"] == "no-store"
        assert r.json() == x.body("temporarily_unavailable", x.KEYS_UNAVAILABLE)
        assert tok not in r.text
