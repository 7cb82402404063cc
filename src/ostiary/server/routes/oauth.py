"""``/oauth``: revocation (RFC 7009), introspection (RFC 7662) and the OpenID Connect
UserInfo endpoint (Core §5.3). The token endpoint is :mod:`ostiary.server.routes.token`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ostiary.errors import (
    InsufficientScope,
    InvalidClient,
    InvalidRequest,
    InvalidToken,
)
from ostiary.grants.authorization_code import profile_claims
from ostiary.resource.bearer import extract_bearer
from ostiary.server.dependencies import REALM, AppServices
from ostiary.server.errors import NO_STORE, BearerRejected
from ostiary.server.forms import client_credentials, read_form

router = APIRouter(prefix="/oauth", tags=["oauth"])


@router.post("/revoke")
async def revoke(request: Request, services: AppServices) -> Response:
    """RFC 7009: 200 whether or not the token was known, valid or the client's."""
    form = await read_form(request)
    client = await services.oauth.authenticator.authenticate(client_credentials(request, form))
    await services.oauth.revocation.revoke(form.require("token"), client)
    return Response(status_code=200, headers=NO_STORE)


@router.post("/introspect")
async def introspect(request: Request, services: AppServices) -> JSONResponse:
    """RFC 7662: for confidential clients; ``{"active": false}`` for anything it may not see."""
    form = await read_form(request)
    client = await services.oauth.authenticator.authenticate(client_credentials(request, form))
    if client.public:
        raise InvalidClient(detail=f"public client {client.id} may not introspect")
    await services.revocation_sync.refresh_if_stale()  # revocations of other processes too
    answer = await services.oauth.inspector.introspect(form.require("token"), client)
    return JSONResponse(answer, headers=NO_STORE)


@router.get("/userinfo")
@router.post("/userinfo")  # one route each: one operation id each in the OpenAPI document
async def userinfo(request: Request, services: AppServices) -> JSONResponse:
    """Core §5.3: the signed-in user's claims, for an access token of the UserInfo audience
    with the ``openid`` scope (RFC 6750 answers otherwise: 401 for a token of another
    audience, 403 without ``openid``). The token may be sent in the header or, with POST, as a
    form parameter (RFC 6750 §2.2)."""
    token = await _bearer(request)
    await services.revocation_sync.refresh_if_stale()  # as every protected route does
    claims = await services.oauth.inspector.access_claims(token)
    if claims is None:
        raise BearerRejected(InvalidToken(), realm=REALM)
    try:
        services.requirements.userinfo.check(
            audiences=claims.audiences,
            client_id=claims.client_id,
            session_id=claims.sid,
            scopes=claims.scopes,
            roles=claims.roles,
        )
    except (InvalidToken, InsufficientScope) as exc:
        raise BearerRejected(exc, realm=REALM) from None
    user = await services.lifecycle.live_user(claims.sub)
    if user is None:  # deleted or disabled: the token names nobody now
        raise BearerRejected(InvalidToken(detail="the user is gone or disabled"), realm=REALM)
    body = {"sub": user.id, **profile_claims(user, " ".join(claims.scopes))}
    return JSONResponse(body, headers=NO_STORE)


async def _bearer(request: Request) -> str:
    headers = request.headers.getlist("authorization")
    try:
        found = extract_bearer(headers, request.scope.get("query_string", b""))
    except InvalidRequest as exc:
        raise BearerRejected(exc, realm=REALM) from None
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        try:
            form = await read_form(request)
        except InvalidRequest as exc:  # RFC 6750 §3.1: a resource's invalid_request
            raise BearerRejected(exc, realm=REALM) from None
        body_token = form.get("access_token")
        if body_token is not None:
            if found is not None:
                raise BearerRejected(InvalidRequest("Send the token once."), realm=REALM)
            found = body_token
    if found is None:
        raise BearerRejected(None, realm=REALM)
    return found
