"""What routes depend on: the services, and the verified claims of an access token that meets
the endpoint's requirement (the trust model: :mod:`ostiary.authz.trust`), presented as a
Bearer token (RFC 6750) or, bound to a key, with the ``DPoP`` scheme and its proof (RFC 9449
§7.1; a bound token sent as Bearer is refused, §7.2).

The server's protected routes verify tokens with :mod:`ostiary.resource`, as any resource
server does, against the live key ring and the revocation list this process keeps in step
with the store, so a revoked access token is refused at once. Then each endpoint's
:class:`~ostiary.authz.trust.Requirement` (audience, first-party session, scope, role) is
checked: ``AccountClaims`` for the account API, ``AdminClaims`` for the admin API,
``FeedClaims`` for the revocation feed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Final

from fastapi import Depends, Request

from ostiary.access_claims import AccessClaims
from ostiary.authz.trust import EndpointRequirements, Requirement
from ostiary.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    TemporarilyUnavailable,
    UseDPoPNonce,
)
from ostiary.resource.bearer import Schemes, extract_credentials
from ostiary.server.dpop import DPOP_HEADER, endpoint_url
from ostiary.server.errors import BearerRejected
from ostiary.server.metrics import Metrics
from ostiary.wiring import Services

REALM: Final = "ostiary"


async def get_services(request: Request) -> Services:
    """The services built at start-up. ``async`` on purpose: FastAPI runs a plain ``def``
    dependency in a worker thread, a hop that cost every request 0.2 ms."""
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("the server's lifespan has not run")  # noqa: TRY004
    return services


AppServices = Annotated[Services, Depends(get_services)]


def _metrics(request: Request) -> Metrics | None:
    metrics = getattr(request.app.state, "metrics", None)
    return metrics if isinstance(metrics, Metrics) else None


def accepted_schemes(services: Services) -> Schemes:
    """Bearer, and DPoP with the proof algorithms the server accepts (RFC 9449 §7.1 ``algs``)."""
    return Schemes.of(
        dpop=True, require_dpop=False, algs=tuple(services.settings.dpop_signing_algs)
    )


def bearer_claims(
    pick: Callable[[EndpointRequirements], Requirement],
) -> Callable[[Request, Services], Awaitable[AccessClaims]]:
    """A dependency: the claims of the request's access token (``Bearer``, or ``DPoP`` with
    a proof whose ``htu`` is the route's public URL under the issuer, never one built from
    ``Host``), verified and meeting the requirement ``pick`` chooses; otherwise an RFC 6750
    or RFC 9449 §7.1 answer (401 or 403)."""

    async def claims(request: Request, services: AppServices) -> AccessClaims:
        await services.revocation_sync.refresh_if_stale()
        metrics = _metrics(request)
        schemes = accepted_schemes(services)
        scheme = None
        try:
            credentials = extract_credentials(
                request.headers.getlist("authorization"),
                request.scope.get("query_string", b""),
                dpop=True,
            )
            if credentials is None:
                if metrics is not None:
                    metrics.verification_failed(None)
                raise BearerRejected(None, realm=REALM, schemes=schemes)
            scheme, token = credentials
            if scheme == "dpop":
                verified = await services.verifier.verify_dpop(
                    token,
                    request.headers.getlist(DPOP_HEADER),
                    method=request.method,
                    url=endpoint_url(services, request.scope["path"]),
                )
            else:
                verified = await services.verifier.verify(token)
            pick(services.requirements).check(
                audiences=verified.audiences,
                client_id=verified.client_id,
                session_id=verified.sid,
                scopes=verified.scopes,
                roles=verified.roles,
            )
        except (
            InvalidToken,
            InvalidRequest,
            InvalidDPoPProof,
            UseDPoPNonce,
            TemporarilyUnavailable,
            InsufficientScope,
        ) as exc:
            if metrics is not None:
                metrics.verification_failed(exc)
            raise BearerRejected(exc, realm=REALM, schemes=schemes, scheme=scheme) from None
        return verified

    return claims


account_claims = bearer_claims(lambda r: r.account)
#: ``/auth/me``, sessions, logout, password: first-party session tokens only.
AccountClaims = Annotated[AccessClaims, Depends(account_claims)]
#: ``/admin/*``: the admin audience, the ``admin`` scope and the ``admin`` role.
AdminClaims = Annotated[AccessClaims, Depends(bearer_claims(lambda r: r.admin))]
#: ``/auth/revocations``: the feed's audience and the ``revocations:read`` scope.
FeedClaims = Annotated[AccessClaims, Depends(bearer_claims(lambda r: r.revocations))]


def user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent")


def client_address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None
