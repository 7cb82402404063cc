"""Flask integration: an extension and decorators over the synchronous verifier.

::

    verifier = TokenVerifier(issuer=..., audience="reports", jwks_url=...)
    auth = OstiaryFlask(app, verifier)

    @app.get("/reports")
    @auth.require_scopes("reports:read")
    def reports():
        return {"user": current_claims().sub}

DPoP-bound tokens (RFC 9449 §7.1) are accepted with their proof beside bearer tokens;
``OstiaryFlask(..., require_dpop=True)`` accepts DPoP only, and one view asks for it with
``@auth.require_dpop`` (or ``require_scopes(..., dpop=True)``).
"""

from __future__ import annotations

import atexit
import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Flask, Response, after_this_request, g, jsonify, request

from ostiary.access_claims import AccessClaims
from ostiary.errors import (
    ConfigurationError,
    DPoPRequired,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    OstiaryError,
    TemporarilyUnavailable,
    UseDPoPNonce,
)
from ostiary.resource._gate import Gate, quoted_path, require_bound
from ostiary.resource.bearer import DPOP_NONCE_HEADER, BearerError, Credentials, Scheme
from ostiary.resource.guards import check_roles, check_scopes
from ostiary.resource.stream import BackgroundStream, RevocationStream
from ostiary.resource.verifier import TokenVerifier

P = ParamSpec("P")
R = TypeVar("R")
_G_KEY = "ostiary_claims"


class OstiaryFlask:
    """Holds the verifier for an app; its decorators guard views.

    ``revocations`` is followed in a background thread with an event loop of its own, from
    :meth:`init_app` until :meth:`stop_revocations` or the interpreter's exit (``atexit``).

    ``dpop`` accepts DPoP-bound tokens with their proof (RFC 9449 §7.1), ``require_dpop``
    nothing else; the verifier's replay cache must answer without awaiting
    (``first_use_sync``). ``public_url`` is the URL clients reach the app at (scheme, host and
    the path prefix a proxy strips), which the proofs' ``htu`` must name; without it the URL
    is the request's own (``request.scheme`` and ``request.host``: the ``Host`` header, or
    what werkzeug's ``ProxyFix`` made of the forwarded headers).
    """

    def __init__(
        self,
        app: Flask | None = None,
        verifier: TokenVerifier | None = None,
        *,
        realm: str = "api",
        revocations: RevocationStream | None = None,
        dpop: bool = True,
        require_dpop: bool = False,
        public_url: str | None = None,
    ) -> None:
        self.verifier = verifier
        self.realm = realm
        self.revocations = revocations
        self.dpop = dpop or require_dpop
        self.dpop_only = require_dpop
        self.public_url = public_url
        self._gate: Gate | None = None
        self._background: BackgroundStream | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, verifier: TokenVerifier | None = None) -> None:
        if verifier is not None:
            self.verifier = verifier
        if self.verifier is None:
            raise RuntimeError("OstiaryFlask needs a TokenVerifier")
        self._gate = self._build_gate(self.verifier)
        app.extensions["ostiary"] = self
        if self.revocations is not None and self._background is None:
            self._background = self.revocations.start_in_thread()
            atexit.register(self.stop_revocations)

    def stop_revocations(self) -> None:
        """Stop following the revocation stream (also done at exit)."""
        background, self._background = self._background, None
        if background is not None:
            background.stop()
            atexit.unregister(self.stop_revocations)

    # --- decorators ------------------------------------------------------------------------

    def require_token(self, view: Callable[P, R]) -> Callable[P, R | Response]:
        """The view runs only with a valid access token."""
        return self._guarded(view, lambda claims: None, dpop=False)

    def require_dpop(self, view: Callable[P, R]) -> Callable[P, R | Response]:
        """The view runs only with a DPoP-bound token presented with its proof (RFC 9449
        §7.1); a bearer token is answered 401 with the ``DPoP`` challenge."""
        return self._guarded(view, lambda claims: None, dpop=True)

    def require_scopes(
        self, *scopes: str, dpop: bool = False
    ) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
        if not scopes:
            raise ValueError("name at least one scope")
        return lambda view: self._guarded(
            view, lambda claims: check_scopes(claims, scopes), dpop=dpop
        )

    def require_roles(
        self, *roles: str, dpop: bool = False
    ) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
        if not roles:
            raise ValueError("name at least one role")
        return lambda view: self._guarded(
            view, lambda claims: check_roles(claims, roles), dpop=dpop
        )

    def _guarded(
        self, view: Callable[P, R], check: Callable[[AccessClaims], None], *, dpop: bool
    ) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            gate = self._the_gate()
            scheme: Scheme | None = None
            try:
                claims: Any = g.get(_G_KEY)
                if isinstance(claims, AccessClaims):
                    scheme = "bearer" if claims.dpop_jkt is None else "dpop"
                else:
                    credentials = gate.credentials(
                        request.headers.getlist("Authorization"), request.query_string
                    )
                    if credentials is None:
                        return _respond(gate.missing())
                    scheme = credentials[0]
                    claims = _verify(gate, credentials)
                    setattr(g, _G_KEY, claims)
                if dpop:
                    require_bound(claims)
                check(claims)
            except (
                InvalidToken,
                InvalidRequest,
                TemporarilyUnavailable,
                InvalidDPoPProof,
                UseDPoPNonce,
            ) as exc:
                return _respond(gate.refusal(exc, scheme))
            except OstiaryError as exc:  # InsufficientScope from the check
                return _respond(gate.refusal(exc, scheme))
            return view(*args, **kwargs)

        return wrapper

    def _build_gate(self, verifier: TokenVerifier) -> Gate:
        if self.dpop and not verifier.dpop.supports_sync:
            raise ConfigurationError(
                "DPoP under Flask needs a replay cache with first_use_sync (or dpop=False)"
            )
        return Gate(
            verifier,
            realm=self.realm,
            dpop=self.dpop,
            require_dpop=self.dpop_only,
            public_url=self.public_url,
        )

    def _the_gate(self) -> Gate:
        if self._gate is None or self._gate.verifier is not self.verifier:
            if self.verifier is None:
                raise RuntimeError("OstiaryFlask needs a TokenVerifier")
            self._gate = self._build_gate(self.verifier)
        return self._gate


def _verify(gate: Gate, credentials: Credentials) -> AccessClaims:
    scheme, token = credentials
    if scheme == "dpop":
        # WSGI joins repeated headers with commas; a compact JWS never holds one.
        proofs = [p for value in request.headers.getlist("DPoP") for p in value.split(",")]
        claims = gate.verifier.verify_dpop_sync(
            token,
            proofs,
            method=request.method,
            url=flask_request_url(gate),
        )
        nonce = gate.fresh_nonce()
        if nonce is not None:
            after_this_request(_add_nonce(nonce))
        return claims
    if gate.require_dpop:
        raise DPoPRequired(detail="a bearer token where DPoP is required")
    return gate.verifier.verify_sync(token)


def flask_request_url(gate: Gate) -> str:
    """The URL of the current request as a DPoP proof names it (RFC 9449 §4.3 step 9): the
    path as the server received it (``RAW_URI``/``REQUEST_URI`` where the server gives it,
    else the decoded path escaped again), after ``public_url`` or the request's scheme and host."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw.startswith("/"):
        path = raw.partition("?")[0]
    else:
        path = quoted_path(request.script_root + request.path)
    return gate.request_url(scheme=request.scheme, host=request.host, path=path)


def _add_nonce(nonce: str) -> Callable[[Response], Response]:
    """RFC 9449 §8.2 and §9: a successful answer carries the current nonce."""

    def add(response: Response) -> Response:
        response.headers[DPOP_NONCE_HEADER] = nonce
        return response

    return add


def current_claims() -> AccessClaims:
    """The claims of the current request's token; only inside a guarded view."""
    claims: Any = g.get(_G_KEY)
    if not isinstance(claims, AccessClaims):
        raise RuntimeError("current_claims() is only available inside a guarded view")  # noqa: TRY004
    return claims


def _respond(error: BearerError) -> Response:
    response = jsonify(error.body)
    response.status_code = error.status_code
    response.headers.update(error.headers)
    response.headers["Cache-Control"] = "no-store"
    return response
