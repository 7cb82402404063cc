"""``/auth``: register, log in, refresh, log out, who am I, change the password.

Which tokens each accepts (docs/security.md, "Who may use which token where"): ``/register``
and ``/login`` none; ``/refresh`` only refresh tokens of the first-party client (its own
families, never an OAuth client's); ``/logout``, ``/logout-all``, ``/me`` and ``/password``
only first-party session tokens (the account audience, the first-party ``client_id`` and a
``sid``), or for ``/logout`` browser mode's cookie.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ostiary.errors import InvalidGrant, InvalidRequest
from ostiary.server.body import read_json
from ostiary.server.dependencies import (
    AccountClaims,
    AppServices,
    account_claims,
    client_address,
    user_agent,
)
from ostiary.server.dpop import OPENAPI_PARAMETER, proof_request, with_nonce
from ostiary.server.errors import NO_STORE, render
from ostiary.server.refresh_cookie import Browser
from ostiary.server.routes._render import account, no_store, token_response
from ostiary.server.schemas import (
    Account,
    BrowserTokenResponse,
    CookieRefreshRequest,
    Credentials,
    LoginRequest,
    PasswordChange,
    RefreshRequest,
    TokenResponse,
)

router = APIRouter(prefix="/auth", tags=["auth"])
#: The public paths DPoP proofs name (RFC 9449 §4.2 ``htu``), under the issuer.
LOGIN_PATH: Final = "/auth/login"
REFRESH_PATH: Final = "/auth/refresh"


def json_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its JSON with :func:`read_json` (which
    FastAPI cannot see): documented, so that clients and the Schemathesis fuzzing of the test
    suite know it."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }


@router.post(
    "/register", status_code=201, response_model=Account, openapi_extra=json_body(Credentials)
)
async def register(request: Request, services: AppServices) -> JSONResponse:
    """Create an account (403 ``access_denied`` when registration is off, 409 if taken)."""
    await services.throttle.check_register(client_address(request))
    body = await read_json(request, Credentials)
    user = await services.auth.register(body.username, body.password)
    return no_store(account(user), status_code=201)


@router.post(
    "/login",
    response_model=TokenResponse | BrowserTokenResponse,
    openapi_extra={**json_body(LoginRequest), "parameters": [OPENAPI_PARAMETER]},
)
async def login(request: Request, services: AppServices, browser: Browser) -> JSONResponse:
    """Username and password for an access token and a refresh token. An unknown user, a
    wrong password and a disabled account get the same 401. With ``"cookie": true``
    (browser mode, from an allowed origin only) the refresh token is set as an ``HttpOnly``
    cookie instead and the body carries a ``csrf_token``. A ``DPoP`` proof (RFC 9449) binds
    the session and its access tokens to its key (``token_type: DPoP``)."""
    body = await read_json(request, LoginRequest)
    if body.cookie:
        browser.check_request_origin(request)
    dpop = proof_request(request, services, LOGIN_PATH)
    async with services.throttle.login_attempt(body.username, client_address(request)):
        pair = await services.auth.login(
            body.username,
            body.password,
            user_agent=user_agent(request),
            address=client_address(request),
            dpop=dpop,
        )
    headers = with_nonce(services, {}, dpop)
    if body.cookie:
        return browser.token_response(pair, headers=headers)
    return token_response(pair, headers=headers)


@router.post(
    "/refresh",
    response_model=TokenResponse | BrowserTokenResponse,
    openapi_extra={
        **json_body(RefreshRequest, required=False),
        "parameters": [OPENAPI_PARAMETER],
    },
)
async def refresh(request: Request, services: AppServices, browser: Browser) -> Response:
    """Exchange a refresh token for a new pair (RFC 6749 §6 with rotation): from the body,
    or from browser mode's cookie under its CSRF checks, rotating the cookie. A session bound
    to a DPoP key needs a proof signed by it (RFC 9449 §5)."""
    cookie = browser.read(request)
    dpop = proof_request(request, services, REFRESH_PATH)
    headers = with_nonce(services, {}, dpop)
    if cookie is None:
        body = await read_json(request, RefreshRequest)
        await services.throttle.check_refresh(client_address(request))
        pair = await services.auth.refresh(body.refresh_token, dpop=dpop)
        return token_response(pair, headers=headers)
    browser.check(request, cookie)  # first: a cross-site request learns nothing more
    if await request.body() and (await read_json(request, CookieRefreshRequest)).refresh_token:
        raise InvalidRequest("Send the refresh token in the cookie or in the body, not both.")
    await services.throttle.check_refresh(client_address(request))
    try:
        pair = await services.auth.refresh(cookie, dpop=dpop)
    except InvalidGrant as exc:  # the cookie is of no more use: drop it
        response = render(request.url.path, exc).response()
        browser.clear(response)
        return response
    return browser.token_response(pair, headers=headers)


@router.post("/logout", status_code=204)
async def logout(request: Request, services: AppServices, browser: Browser) -> Response:
    """End this session: its refresh tokens and its access tokens. Authenticated by the
    Bearer token, or by browser mode's cookie (under its CSRF checks), which is cleared."""
    cookie = browser.read(request)
    if cookie is None:
        await services.auth.logout(await account_claims(request, services))
        return Response(status_code=204, headers=NO_STORE)
    browser.check(request, cookie)
    await services.auth.logout_refresh(cookie)
    response = Response(status_code=204, headers=NO_STORE)
    browser.clear(response)
    return response


@router.post("/logout-all", status_code=204)
async def logout_all(claims: AccountClaims, services: AppServices) -> Response:
    """End every session of the user, signed-in browsers included."""
    await services.auth.logout_all(claims)
    return Response(status_code=204, headers=NO_STORE)


@router.get("/me", response_model=Account)
async def me(claims: AccountClaims, services: AppServices) -> JSONResponse:
    return no_store(account(await services.auth.me(claims)))


@router.post("/password", status_code=204, openapi_extra=json_body(PasswordChange))
async def change_password(
    request: Request, claims: AccountClaims, services: AppServices
) -> Response:
    """Change the password; every other session of the user ends."""
    body = await read_json(request, PasswordChange)
    # A credential check like a login (ASVS 2.2.1): its limits and back-off, counted with the
    # login's failures of this account and address (docs/security.md).
    user = await services.auth.me(claims)
    async with services.throttle.login_attempt(user.username, client_address(request)):
        await services.auth.change_password(claims, body.current_password, body.new_password)
    return Response(status_code=204, headers=NO_STORE)
