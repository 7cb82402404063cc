"""FastAPI dependencies: ``CurrentClaims``, ``require_scopes(...)``, ``require_roles(...)``.

Install once with :func:`install` (the middleware plus a handler that renders RFC 6750 errors),
then declare what each route needs::

    verifier = TokenVerifier(issuer=..., audience="orders", jwks_url=...)
    app = FastAPI()
    install(app, verifier, public_paths={"/healthz"})

    @app.get("/orders", dependencies=[require_scopes("orders:read")])
    async def list_orders(claims: CurrentClaims) -> list[Order]: ...

Without the middleware, ``CurrentClaims`` verifies the ``Authorization`` header itself with
the verifier that :func:`install` (or ``app.state.ostiary_verifier``) provides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from ostiary.access_claims import AccessClaims
from ostiary.errors import InvalidRequest, InvalidToken, OstiaryError, TemporarilyUnavailable
from ostiary.resource.bearer import bearer_error, extract_bearer, missing_credentials
from ostiary.resource.csrf import CrossSiteRequest, TokenCookie
from ostiary.resource.guards import check_roles, check_scopes
from ostiary.resource.lifespan import follow_revocations
from ostiary.resource.middleware import STATE_KEY, BearerAuthMiddleware
from ostiary.resource.stream import RevocationStream
from ostiary.resource.verifier import TokenVerifier

_REALM_ATTR = "ostiary_realm"
_VERIFIER_ATTR = "ostiary_verifier"
_COOKIE_ATTR = "ostiary_token_cookie"


class BearerChallenge(OstiaryError):
    """Raised by the dependencies; :func:`install`'s handler turns it into an RFC 6750 answer."""

    def __init__(self, cause: OstiaryError | None, realm: str) -> None:
        self.cause = cause
        self.realm = realm
        super().__init__(cause.description if cause else "Bearer authentication is required.")


def install(
    app: FastAPI,
    verifier: TokenVerifier,
    *,
    realm: str = "api",
    public_paths: Collection[str] = (),
    middleware: bool = True,
    cookie: TokenCookie | None = None,
    revocations: RevocationStream | None = None,
) -> None:
    """Protect ``app``: every route needs a valid token unless listed in ``public_paths``.

    With ``middleware=False`` nothing is enforced globally; routes opt in by depending on
    ``CurrentClaims``, ``require_scopes`` or ``require_roles``. ``cookie`` (off by default)
    also accepts the token from a cookie, under its CSRF checks (:class:`TokenCookie`).
    ``revocations`` is followed while the app runs (started and stopped with its lifespan,
    around the app's own; ``app.state.ostiary_revocations.state`` for a health endpoint).
    """
    setattr(app.state, _VERIFIER_ATTR, verifier)
    setattr(app.state, _REALM_ATTR, realm)
    setattr(app.state, _COOKIE_ATTR, cookie)
    if middleware:
        app.add_middleware(
            BearerAuthMiddleware,
            verifier=verifier,
            realm=realm,
            public_paths=public_paths,
            cookie=cookie,
        )
    app.add_exception_handler(BearerChallenge, _render_challenge)
    if revocations is not None:
        follow_revocations(app, revocations)


async def _render_challenge(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BearerChallenge)
    error = (
        bearer_error(exc.cause, exc.realm)
        if exc.cause is not None
        else missing_credentials(exc.realm)
    )
    return JSONResponse(
        error.body,
        status_code=error.status_code,
        headers={**error.headers, "Cache-Control": "no-store"},
    )


async def get_claims(request: Request) -> AccessClaims:
    """The verified claims of the request: from the middleware, or verified here."""
    claims = request.scope.get("state", {}).get(STATE_KEY)
    if isinstance(claims, AccessClaims):
        return claims
    realm: str = getattr(request.app.state, _REALM_ATTR, "api")
    verifier = getattr(request.app.state, _VERIFIER_ATTR, None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("call ostiary.resource.fastapi.install(app, verifier) first")  # noqa: TRY004
    try:
        token = extract_bearer(
            request.headers.getlist("authorization"), request.scope.get("query_string", b"")
        )
        cookie = getattr(request.app.state, _COOKIE_ATTR, None)
        if token is None and isinstance(cookie, TokenCookie):
            token = cookie.token(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
            )
        if token is None:
            raise BearerChallenge(None, realm)
        claims = await verifier.verify(token)
    except (InvalidToken, InvalidRequest, TemporarilyUnavailable, CrossSiteRequest) as exc:
        raise BearerChallenge(exc, realm) from None
    request.scope.setdefault("state", {})[STATE_KEY] = claims
    return claims


CurrentClaims = Annotated[AccessClaims, Depends(get_claims)]


def require_scopes(*scopes: str) -> Any:
    """A dependency that lets the route run only if the token grants every one of ``scopes``."""
    return Depends(_guard(check_scopes, scopes))


def require_roles(*roles: str) -> Any:
    """A dependency that lets the route run only if the token carries every one of ``roles``."""
    return Depends(_guard(check_roles, roles))


def _guard(
    check: Callable[[AccessClaims, tuple[str, ...]], None], needed: tuple[str, ...]
) -> Callable[[Request, AccessClaims], Awaitable[AccessClaims]]:
    if not needed:
        raise ValueError("name at least one scope or role")

    async def dependency(request: Request, claims: CurrentClaims) -> AccessClaims:
        try:
            check(claims, needed)
        except OstiaryError as exc:
            raise BearerChallenge(exc, getattr(request.app.state, _REALM_ATTR, "api")) from None
        return claims

    return dependency
