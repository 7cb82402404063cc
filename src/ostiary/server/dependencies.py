"""What routes depend on: the services, and the verified claims of a Bearer token.

The server's protected routes verify tokens with :mod:`ostiary.resource`, as any resource
server does, against the live key ring and the revocation list this process keeps in step
with the store, so a revoked access token is refused at once.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Request

from ostiary.errors import InvalidRequest, InvalidToken, TemporarilyUnavailable
from ostiary.resource.bearer import extract_bearer
from ostiary.resource.claims import AccessClaims
from ostiary.server.errors import BearerRejected
from ostiary.server.services import Services

REALM: Final = "ostiary"


async def get_services(request: Request) -> Services:
    """The services built at start-up. ``async`` on purpose: FastAPI runs a plain ``def``
    dependency in a worker thread, a hop that cost every request 0.2 ms."""
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("the server's lifespan has not run")  # noqa: TRY004
    return services


AppServices = Annotated[Services, Depends(get_services)]


async def current_claims(request: Request, services: AppServices) -> AccessClaims:
    await services.revocation_sync.refresh_if_stale()
    try:
        token = extract_bearer(
            request.headers.getlist("authorization"), request.scope.get("query_string", b"")
        )
        if token is None:
            if services.metrics is not None:
                services.metrics.verification_failed(None)
            raise BearerRejected(None, realm=REALM)
        return await services.verifier.verify(token)
    except (InvalidToken, InvalidRequest, TemporarilyUnavailable) as exc:
        if services.metrics is not None:
            services.metrics.verification_failed(exc)
        raise BearerRejected(exc, realm=REALM) from None


Claims = Annotated[AccessClaims, Depends(current_claims)]


def user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent")


def client_address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None
