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

DPoP-bound tokens (RFC 9449 §7.1) are accepted with their proof beside bearer tokens;
``install(..., require_dpop=True)`` accepts DPoP only, and a route that wants DPoP where the
app takes both depends on :func:`require_dpop` (or ``require_scopes(..., dpop=True)``)::

    @app.post("/payments", dependencies=[require_dpop()])
    async def pay(claims: CurrentClaims) -> Receipt: ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from ostiary.access_claims import AccessClaims
from ostiary.errors import OstiaryError
from ostiary.resource._gate import Gate, require_bound
from ostiary.resource.bearer import Scheme
from ostiary.resource.csrf import TokenCookie
from ostiary.resource.guards import check_roles, check_scopes
from ostiary.resource.lifespan import follow_revocations
from ostiary.resource.middleware import REFUSED, STATE_KEY, BearerAuthMiddleware, request_url
from ostiary.resource.stream import RevocationStream
from ostiary.resource.verifier import TokenVerifier

_REALM_ATTR = "ostiary_realm"
_VERIFIER_ATTR = "ostiary_verifier"
_COOKIE_ATTR = "ostiary_token_cookie"
_GATE_ATTR = "ostiary_gate"


class BearerChallenge(OstiaryError):
    """Raised by the dependencies; :func:`install`'s handler turns it into an RFC 6750 (or
    RFC 9449 §7.1, for DPoP credentials) answer."""

    def __init__(self, cause: OstiaryError | None, gate: Gate, scheme: Scheme | None) -> None:
        self.cause = cause
        self.gate = gate
        self.realm = gate.realm
        self.scheme = scheme
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
    dpop: bool = True,
    require_dpop: bool = False,
    public_url: str | None = None,
) -> None:
    """Protect ``app``: every route needs a valid token unless listed in ``public_paths``.

    With ``middleware=False`` nothing is enforced globally; routes opt in by depending on
    ``CurrentClaims``, ``require_scopes`` or ``require_roles``. ``cookie`` (off by default)
    also accepts the token from a cookie, under its CSRF checks (:class:`TokenCookie`).
    ``revocations`` is followed while the app runs (started and stopped with its lifespan,
    around the app's own; ``app.state.ostiary_revocations.state`` for a health endpoint).

    ``dpop`` accepts DPoP-bound tokens with their proof (RFC 9449 §7.1), ``require_dpop``
    nothing else; ``public_url`` is the URL clients reach the app at, which the proofs name
    (see :class:`~ostiary.resource.BearerAuthMiddleware`).
    """
    gate = Gate(verifier, realm=realm, dpop=dpop, require_dpop=require_dpop, public_url=public_url)
    setattr(app.state, _VERIFIER_ATTR, verifier)
    setattr(app.state, _REALM_ATTR, realm)
    setattr(app.state, _COOKIE_ATTR, cookie)
    setattr(app.state, _GATE_ATTR, gate)
    if middleware:
        app.add_middleware(
            BearerAuthMiddleware,
            verifier=verifier,
            realm=realm,
            public_paths=public_paths,
            cookie=cookie,
            dpop=dpop,
            require_dpop=require_dpop,
            public_url=public_url,
        )
    app.add_exception_handler(BearerChallenge, _render_challenge)
    if revocations is not None:
        follow_revocations(app, revocations)


async def _render_challenge(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BearerChallenge)
    error = exc.gate.refusal(exc.cause, exc.scheme) if exc.cause is not None else exc.gate.missing()
    return JSONResponse(
        error.body,
        status_code=error.status_code,
        headers={**error.headers, "Cache-Control": "no-store"},
    )


def _gate(request: Request) -> Gate:
    gate = getattr(request.app.state, _GATE_ATTR, None)
    if isinstance(gate, Gate):
        return gate
    verifier = getattr(request.app.state, _VERIFIER_ATTR, None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("call ostiary.resource.fastapi.install(app, verifier) first")  # noqa: TRY004
    gate = Gate(verifier, realm=getattr(request.app.state, _REALM_ATTR, "api"))
    setattr(request.app.state, _GATE_ATTR, gate)
    return gate


async def get_claims(request: Request) -> AccessClaims:
    """The verified claims of the request: from the middleware, or verified here."""
    claims = request.scope.get("state", {}).get(STATE_KEY)
    if isinstance(claims, AccessClaims):
        return claims
    gate = _gate(request)
    scheme: Scheme | None = None
    try:
        credentials = gate.credentials(
            request.headers.getlist("authorization"), request.scope.get("query_string", b"")
        )
        cookie = getattr(request.app.state, _COOKIE_ATTR, None)
        if credentials is None and isinstance(cookie, TokenCookie):
            token = cookie.token(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
            )
            credentials = ("bearer", token) if token is not None else None
        if credentials is None:
            raise BearerChallenge(None, gate, None)
        scheme = credentials[0]
        claims = await gate.verify(
            credentials,
            proofs=lambda: request.headers.getlist("dpop"),
            method=request.method,
            url=lambda: request_url(gate, request.scope),
        )
    except REFUSED as exc:
        raise BearerChallenge(exc, gate, scheme) from None
    request.scope.setdefault("state", {})[STATE_KEY] = claims
    return claims


CurrentClaims = Annotated[AccessClaims, Depends(get_claims)]


def require_scopes(*scopes: str, dpop: bool = False) -> Any:
    """A dependency that lets the route run only if the token grants every one of ``scopes``
    (and, with ``dpop``, came with the ``DPoP`` scheme and its proof)."""
    return Depends(_guard(check_scopes, scopes, dpop=dpop))


def require_roles(*roles: str, dpop: bool = False) -> Any:
    """A dependency that lets the route run only if the token carries every one of ``roles``
    (and, with ``dpop``, came with the ``DPoP`` scheme and its proof)."""
    return Depends(_guard(check_roles, roles, dpop=dpop))


def require_dpop() -> Any:
    """A dependency that lets the route run only for a DPoP-bound token presented with its
    proof (RFC 9449 §7.1); a bearer token is answered 401 with the ``DPoP`` challenge."""
    return Depends(_guard(_nothing, (), dpop=True))


def _nothing(claims: AccessClaims, needed: tuple[str, ...]) -> None:
    return None


def _guard(
    check: Callable[[AccessClaims, tuple[str, ...]], None],
    needed: tuple[str, ...],
    *,
    dpop: bool,
) -> Callable[[Request, AccessClaims], Awaitable[AccessClaims]]:
    if not needed and check is not _nothing:
        raise ValueError("name at least one scope or role")

    async def dependency(request: Request, claims: CurrentClaims) -> AccessClaims:
        scheme: Scheme = "bearer" if claims.dpop_jkt is None else "dpop"
        try:
            if dpop:
                require_bound(claims)
            check(claims, needed)
        except OstiaryError as exc:
            raise BearerChallenge(exc, _gate(request), scheme) from None
        return claims

    return dependency
