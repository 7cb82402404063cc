"""Flask integration: an extension and decorators over the synchronous verifier.

::

    verifier = TokenVerifier(issuer=..., audience="reports", jwks_url=...)
    auth = OstiaryFlask(app, verifier)

    @app.get("/reports")
    @auth.require_scopes("reports:read")
    def reports():
        return {"user": current_claims().sub}
"""

from __future__ import annotations

import atexit
import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Flask, Response, g, jsonify, request

from ostiary.access_claims import AccessClaims
from ostiary.errors import InvalidRequest, InvalidToken, OstiaryError, TemporarilyUnavailable
from ostiary.resource.bearer import BearerError, bearer_error, extract_bearer, missing_credentials
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
    """

    def __init__(
        self,
        app: Flask | None = None,
        verifier: TokenVerifier | None = None,
        *,
        realm: str = "api",
        revocations: RevocationStream | None = None,
    ) -> None:
        self.verifier = verifier
        self.realm = realm
        self.revocations = revocations
        self._background: BackgroundStream | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, verifier: TokenVerifier | None = None) -> None:
        if verifier is not None:
            self.verifier = verifier
        if self.verifier is None:
            raise RuntimeError("OstiaryFlask needs a TokenVerifier")
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
        return self._guarded(view, lambda claims: None)

    def require_scopes(self, *scopes: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
        if not scopes:
            raise ValueError("name at least one scope")
        return lambda view: self._guarded(view, lambda claims: check_scopes(claims, scopes))

    def require_roles(self, *roles: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
        if not roles:
            raise ValueError("name at least one role")
        return lambda view: self._guarded(view, lambda claims: check_roles(claims, roles))

    def _guarded(
        self, view: Callable[P, R], check: Callable[[AccessClaims], None]
    ) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            try:
                claims = self._authenticate()
                if claims is None:
                    return _respond(missing_credentials(self.realm))
                check(claims)
            except (InvalidToken, InvalidRequest, TemporarilyUnavailable) as exc:
                return _respond(bearer_error(exc, self.realm))
            except OstiaryError as exc:  # InsufficientScope from the check
                return _respond(bearer_error(exc, self.realm))
            return view(*args, **kwargs)

        return wrapper

    def _authenticate(self) -> AccessClaims | None:
        cached: Any = g.get(_G_KEY)
        if isinstance(cached, AccessClaims):
            return cached
        token = extract_bearer(request.headers.getlist("Authorization"), request.query_string)
        if token is None:
            return None
        assert self.verifier is not None
        claims = self.verifier.verify_sync(token)
        setattr(g, _G_KEY, claims)
        return claims


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
