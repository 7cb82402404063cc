"""``/auth``: register, log in, refresh, log out, who am I, change the password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ostiary.server.body import read_json
from ostiary.server.dependencies import AppServices, Claims, client_address, user_agent
from ostiary.server.errors import NO_STORE
from ostiary.server.routes._render import account, no_store, token_response
from ostiary.server.schemas import (
    Account,
    Credentials,
    PasswordChange,
    RefreshRequest,
    TokenResponse,
)

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=201, response_model=Account)
async def register(request: Request, services: AppServices) -> JSONResponse:
    """Create an account (403 ``access_denied`` when registration is off, 409 if taken)."""
    body = await read_json(request, Credentials)
    user = await services.auth.register(body.username, body.password)
    return no_store(account(user), status_code=201)


@router.post("/login", response_model=TokenResponse)
async def login(request: Request, services: AppServices) -> JSONResponse:
    """Username and password for an access token and a refresh token. An unknown user, a
    wrong password and a disabled account get the same 401."""
    body = await read_json(request, Credentials)
    pair = await services.auth.login(
        body.username,
        body.password,
        user_agent=user_agent(request),
        address=client_address(request),
    )
    return token_response(pair)


@router.post("/refresh", response_model=TokenResponse)
async def refresh(request: Request, services: AppServices) -> JSONResponse:
    """Exchange a refresh token for a new pair (RFC 6749 §6 with rotation)."""
    body = await read_json(request, RefreshRequest)
    return token_response(await services.auth.refresh(body.refresh_token))


@router.post("/logout", status_code=204)
async def logout(claims: Claims, services: AppServices) -> Response:
    """End this token's session: its refresh tokens and its access tokens."""
    await services.auth.logout(claims)
    return Response(status_code=204, headers=NO_STORE)


@router.post("/logout-all", status_code=204)
async def logout_all(claims: Claims, services: AppServices) -> Response:
    """End every session of the user."""
    await services.auth.logout_all(claims)
    return Response(status_code=204, headers=NO_STORE)


@router.get("/me", response_model=Account)
async def me(claims: Claims, services: AppServices) -> JSONResponse:
    return no_store(account(await services.auth.me(claims)))


@router.post("/password", status_code=204)
async def change_password(request: Request, claims: Claims, services: AppServices) -> Response:
    """Change the password; every other session of the user ends."""
    body = await read_json(request, PasswordChange)
    await services.auth.change_password(claims, body.current_password, body.new_password)
    return Response(status_code=204, headers=NO_STORE)
