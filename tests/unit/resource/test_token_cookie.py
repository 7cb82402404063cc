"""The resource toolkit's opt-in cookie tokens (:class:`ostiary.resource.csrf.TokenCookie`):
off by default; when on, a cookie-carried request needs an allowed ``Origin`` (or
``Sec-Fetch-Site: same-origin``) and the double-submit header; the ``Authorization`` header
still wins; a refusal is a 403 without a Bearer challenge."""

from __future__ import annotations

import time
from typing import Any, Final

import httpx
import pytest
from fastapi import FastAPI

from ostiary.clock import FrozenClock
from ostiary.keys import generate_key
from ostiary.resource import TokenVerifier
from ostiary.resource.csrf import CrossSiteRequest, TokenCookie, origin_of, parse_cookies
from ostiary.resource.fastapi import CurrentClaims, install

from ._tokens import AUDIENCE, ISSUER, jwks_of, mint

KEY: Final = generate_key("ES256")
APP: Final = "https://app.example.com"
COOKIE: Final = TokenCookie("access", allowed_origins={APP})
REFUSED: Final = {"error": "access_denied", "error_description": CrossSiteRequest.description}


def api(*, cookie: TokenCookie | None, middleware: bool = True) -> FastAPI:
    now = time.time()
    verifier = TokenVerifier(
        issuer=ISSUER, audience=AUDIENCE, keys=jwks_of(KEY), clock=FrozenClock(now)
    )
    app = FastAPI()
    install(app, verifier, cookie=cookie, middleware=middleware)

    @app.get("/me")
    async def me(claims: CurrentClaims) -> dict[str, Any]:
        return {"sub": claims.sub}

    return app


async def get(app: FastAPI, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example.com") as c:
        return await c.get("/me", headers=headers)


def cookies(token: str, csrf: str | None = "c5rf") -> str:
    return f"access={token}" + (f"; ostiary_csrf_token={csrf}" if csrf is not None else "")


@pytest.fixture(params=[True, False], ids=["middleware", "dependency"])
def middleware(request: pytest.FixtureRequest) -> bool:
    flag: bool = request.param
    return flag


async def test_cookies_are_ignored_by_default(middleware: bool) -> None:
    token = mint(KEY, now=time.time())
    headers = {"Cookie": cookies(token), "Origin": APP, "X-CSRF-Token": "c5rf"}
    response = await get(api(cookie=None, middleware=middleware), headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_cookie_token_with_origin_and_csrf_header_is_accepted(middleware: bool) -> None:
    token = mint(KEY, now=time.time())
    headers = {"Cookie": cookies(token), "Origin": APP, "X-CSRF-Token": "c5rf"}
    response = await get(api(cookie=COOKIE, middleware=middleware), headers)
    assert (response.status_code, response.json()) == (200, {"sub": "alice"})


async def test_sec_fetch_site_same_origin_stands_in_for_origin(middleware: bool) -> None:
    token = mint(KEY, now=time.time())
    headers = {"Cookie": cookies(token), "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": "c5rf"}
    response = await get(api(cookie=COOKIE, middleware=middleware), headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "csrf"),
    [
        pytest.param({"X-CSRF-Token": "c5rf"}, "c5rf", id="no-origin"),
        pytest.param(
            {"Origin": "https://evil.example", "X-CSRF-Token": "c5rf"}, "c5rf", id="foreign"
        ),
        pytest.param({"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": "c5rf"}, "c5rf", id="xsite"),
        pytest.param({"Origin": APP}, "c5rf", id="no-header"),
        pytest.param({"Origin": APP, "X-CSRF-Token": "nope"}, "c5rf", id="wrong-header"),
        pytest.param({"Origin": APP, "X-CSRF-Token": "c5rf"}, None, id="no-csrf-cookie"),
    ],
)
async def test_a_cookie_token_failing_a_csrf_check_is_403(
    middleware: bool, headers: dict[str, str], csrf: str | None
) -> None:
    token = mint(KEY, now=time.time())
    response = await get(
        api(cookie=COOKIE, middleware=middleware), {"Cookie": cookies(token, csrf), **headers}
    )
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert "www-authenticate" not in response.headers


async def test_the_authorization_header_wins_over_the_cookie(middleware: bool) -> None:
    token = mint(KEY, now=time.time())
    headers = {"Cookie": cookies("garbage"), "Authorization": f"Bearer {token}"}
    response = await get(api(cookie=COOKIE, middleware=middleware), headers)
    assert response.status_code == 200


async def test_a_bad_cookie_token_is_invalid_token(middleware: bool) -> None:
    headers = {"Cookie": cookies("not.a.token"), "Origin": APP, "X-CSRF-Token": "c5rf"}
    response = await get(api(cookie=COOKIE, middleware=middleware), headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_token_cookie_needs_origins_and_two_names() -> None:
    with pytest.raises(ValueError, match="allowed_origins"):
        TokenCookie("access")
    with pytest.raises(ValueError, match="allowed_origins"):
        TokenCookie("access", allowed_origins=APP)
    with pytest.raises(ValueError, match="different"):
        TokenCookie("same", allowed_origins={APP}, csrf_cookie="same")


def test_origin_of_serializes_like_a_browser() -> None:
    assert origin_of("HTTPS://Auth.Example.com:443/x?y") == "https://auth.example.com"
    assert origin_of("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert origin_of("http://[::1]:80") == "http://[::1]"


def test_parse_cookies_keeps_the_first_of_a_name() -> None:
    assert parse_cookies(["a=1; b=2", "a=3; c"]) == {"a": "1", "b": "2"}
