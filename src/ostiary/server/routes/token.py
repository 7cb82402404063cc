"""``POST /oauth/token`` (RFC 6749 §3.2) as a plain Starlette route.

It is the hottest endpoint a service-to-service deployment has (every service fetches its
tokens here), so it skips FastAPI's dependency solving and response handling, which cost it a
quarter of its time; errors still go through the one renderer (:mod:`ostiary.server.errors`).
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.server.errors import NO_STORE
from ostiary.server.forms import client_credentials, read_form
from ostiary.server.services import Services
from ostiary.server.token_audit import audited_exchange

PATH = "/oauth/token"


async def token(request: Request) -> Response:
    """Exchange a grant for tokens: ``client_credentials``, ``authorization_code`` (PKCE) or
    ``refresh_token``; the client authenticates with ``client_secret_basic``,
    ``client_secret_post``, ``private_key_jwt`` or, if public, its ``client_id`` alone."""
    services: Services = request.app.state.services
    form = await read_form(request)
    credentials = client_credentials(request, form)
    claimed = credentials.basic[0] if credentials.basic is not None else credentials.client_id
    await services.throttle.check_token(claimed, request.client.host if request.client else None)
    answer = await audited_exchange(services, credentials, form)
    body = json.dumps(answer.body(), separators=(",", ":"))
    return Response(body, media_type="application/json", headers=NO_STORE)


def token_route() -> Route:
    return Route(PATH, token, methods=["POST"], name="oauth_token")
