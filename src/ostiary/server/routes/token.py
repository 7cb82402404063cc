"""``POST /oauth/token`` (RFC 6749 §3.2) as a plain Starlette route.

It is the hottest endpoint a service-to-service deployment has (every service fetches its
tokens here), so it skips FastAPI's dependency solving and response handling, which cost it a
quarter of its time, and (through :func:`token_answer`) the middleware stack and routing too
(:mod:`ostiary.server.hot_paths`); errors still go through the one renderer
(:mod:`ostiary.server.errors`).
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.server.audited_token_exchange import audited_exchange
from ostiary.server.dpop import OPENAPI_PARAMETER, proof_request, with_nonce
from ostiary.server.errors import NO_STORE
from ostiary.server.forms import client_credentials, read_form
from ostiary.server.hot_paths import Answer
from ostiary.server.middleware import Receive, Scope
from ostiary.wiring import Services

PATH = "/oauth/token"


async def token(request: Request) -> Response:
    """Exchange a grant for tokens: ``client_credentials``, ``authorization_code`` (PKCE) or
    ``refresh_token``; the client authenticates with ``client_secret_basic``,
    ``client_secret_post``, ``private_key_jwt`` or, if public, its ``client_id`` alone. A
    ``DPoP`` proof binds the access token to its key (RFC 9449 §5: ``token_type: DPoP``)."""
    body, headers = await _exchange(request)
    return Response(body, media_type=JSON, headers=NO_STORE if headers is None else headers)


async def _exchange(request: Request) -> tuple[bytes, dict[str, str] | None]:
    """The JSON answer of a successful exchange, and its headers (None: :data:`NO_STORE`)."""
    services: Services = request.app.state.services
    form = await read_form(request)
    credentials = client_credentials(request, form)
    claimed = credentials.basic[0] if credentials.basic is not None else credentials.client_id
    await services.throttle.check_token(claimed, request.client.host if request.client else None)
    dpop = proof_request(request, services, PATH)  # RFC 9449 §5: None without a DPoP header
    answer = await audited_exchange(services, credentials, form, dpop=dpop)
    body = _COMPACT_JSON.encode(answer.body()).encode()
    return body, None if dpop is None else with_nonce(services, NO_STORE, dpop)


def token_route() -> Route:
    return Route(PATH, token, methods=["POST"], name="oauth_token")


async def token_answer(scope: Scope, receive: Receive) -> Answer:
    """``POST /oauth/token`` for the hot paths (:mod:`ostiary.server.hot_paths`): what the
    :func:`token` handler answers, its headers as its response would send them (without
    building that response)."""
    body, headers = await _exchange(Request(scope, receive))
    if headers is None:
        raw = [*_NO_STORE_RAW, (b"content-length", str(len(body)).encode("latin-1")), _JSON_RAW]
        return Answer(200, raw, body)
    response = Response(body, media_type=JSON, headers=headers)
    return Answer(response.status_code, response.raw_headers, body)


JSON: Final = "application/json"
#: ``json.dumps(..., separators=(",", ":"))``, its encoder made once.
_COMPACT_JSON: Final = json.JSONEncoder(separators=(",", ":"))
#: :data:`NO_STORE` and the media type as Starlette's ``Response`` sends them (its
#: ``init_headers``: the given headers, then ``content-length``, then ``content-type``).
_NO_STORE_RAW: Final = tuple(
    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in NO_STORE.items()
)
_JSON_RAW: Final = (b"content-type", JSON.encode("latin-1"))


def openapi_operation() -> dict[str, Any]:
    """``POST /oauth/token`` for the OpenAPI document (the route is a plain Starlette route,
    which FastAPI does not document by itself): its form parameters and its answers."""
    oauth_error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    }
    tokens = {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in", "scope"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string", "enum": ["Bearer", "DPoP"]},
            "expires_in": {"type": "integer"},
            "scope": {"type": "string"},
            "refresh_token": {"type": "string"},
            "refresh_token_expires_in": {"type": "integer"},
            "id_token": {"type": "string"},
        },
    }
    form = {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {
                "type": "string",
                "enum": ["authorization_code", "refresh_token", "client_credentials"],
            },
            **{
                name: {"type": "string"}
                for name in (
                    "code",
                    "redirect_uri",
                    "code_verifier",
                    "refresh_token",
                    "scope",
                    "resource",
                    "client_id",
                    "client_secret",
                    "client_assertion_type",
                    "client_assertion",
                )
            },
        },
    }

    def answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    return {
        "tags": ["oauth"],
        "summary": "Token",
        "description": token.__doc__ or "",
        "operationId": "oauth_token",
        "parameters": [OPENAPI_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": form}},
        },
        "responses": {
            "200": answer("Tokens (RFC 6749 §5.1)", tokens),
            "400": answer("An OAuth error (RFC 6749 §5.2)", oauth_error),
            "401": answer("Client authentication failed", oauth_error),
            "413": answer("The body is too large", oauth_error),
            "429": answer("Too many requests", oauth_error),
        },
    }
