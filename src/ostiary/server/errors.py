"""The one place the server renders errors.

- On the token-ish endpoints (``/auth/login``, ``/auth/refresh``, ``/auth/register``) an error
  is an RFC 6749 §5.2 object ``{"error", "error_description"}``.
- A failed Bearer authentication anywhere is answered as a resource server answers it
  (RFC 6750 §3: a ``WWW-Authenticate`` challenge and ``{"error", "error_description"}``).
- Everything else is an RFC 9457 problem (``application/problem+json`` with ``type``,
  ``title``, ``status``, ``detail``).

Only an error's public ``description`` is sent; its private ``detail`` is logged. Nothing
unexpected is ever shown: it becomes a 500 ``server_error`` without a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ostiary.errors import (
    InvalidClient,
    InvalidRequest,
    OstiaryError,
    RateLimited,
    ServerError,
    TemporarilyUnavailable,
    UseDPoPNonce,
)
from ostiary.logtext import escape_controls
from ostiary.resource.bearer import (
    BEARER_ONLY,
    Scheme,
    Schemes,
    missing_credentials_for,
    refusal,
)
from ostiary.storage.protocols import StorageError

#: The endpoints that answer errors the RFC 6749 §5.2 way.
TOKEN_PATHS: Final = frozenset(
    {
        "/auth/login",
        "/auth/refresh",
        "/auth/register",
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
    }
)
PROBLEM_JSON: Final = "application/problem+json"
OAUTH_JSON: Final = "application/json"
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
RETRY_AFTER_SECONDS: Final = 5
CLIENT_REALM: Final = "ostiary"
#: RFC 9110 renamed these; Python's HTTPStatus has the new names only from 3.13.
_RFC_9110_PHRASES: Final = {413: "Content Too Large", 422: "Unprocessable Content"}
_ROUTING_DESCRIPTIONS: Final = {
    404: "There is nothing at this path.",
    405: "This method is not allowed on this path.",
}

log = logging.getLogger("ostiary.server")


# --- errors only the HTTP layer raises --------------------------------------------------------


class BearerRejected(OstiaryError):
    """A protected route got no token (``cause`` None) or a bad one: an RFC 6750 answer."""

    status_code = 401

    def __init__(
        self,
        cause: OstiaryError | None,
        *,
        realm: str,
        schemes: Schemes = BEARER_ONLY,
        scheme: Scheme | None = None,
    ) -> None:
        super().__init__(cause.description if cause is not None else None)
        self.cause = cause
        self.realm = realm
        #: The schemes the route accepts, and the one the request used (None: unreadable).
        self.schemes = schemes
        self.scheme = scheme


class PayloadTooLarge(InvalidRequest):
    status_code = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes.")


class HeadersTooLarge(InvalidRequest):
    """RFC 6585 §5: the header section is too large, in bytes or in lines."""

    status_code = 431
    description = "The request headers are too large or too many."


class UnsupportedMediaType(InvalidRequest):
    status_code = 415
    description = "The request body must be JSON, sent with Content-Type: application/json."


class HTTPProblem(OstiaryError):
    """A routing error Starlette raised (404, 405...), in the shape of every other error."""

    def __init__(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(_ROUTING_DESCRIPTIONS.get(status, f"{_phrase(status)}."))
        self.status = status
        self.headers = dict(headers or {})


# --- rendering ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenderedError:
    status_code: int
    body: dict[str, Any]
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()

    def response(self) -> Response:
        return Response(
            self.content(),
            status_code=self.status_code,
            media_type=self.media_type,
            headers=self.headers,
        )

    def asgi_headers(self, length: int) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", self.media_type.encode()), (b"content-length", b"%d" % length)]
        headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in self.headers.items()]
        return headers


def render(path: str, exc: OstiaryError) -> RenderedError:
    """The response for ``exc`` raised while serving ``path``; logs its private detail."""
    _log(path, exc)
    if isinstance(exc, BearerRejected):
        return _bearer(exc)
    status = exc.status if isinstance(exc, HTTPProblem) else exc.status_code
    headers = dict(NO_STORE)
    if isinstance(exc, HTTPProblem):
        headers.update(exc.headers)
    if isinstance(exc, InvalidClient):  # RFC 6749 §5.2: 401 with a challenge
        headers["WWW-Authenticate"] = f'Basic realm="{CLIENT_REALM}"'
    elif isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, TemporarilyUnavailable):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    elif isinstance(exc, UseDPoPNonce):  # RFC 9449 §8: the nonce to retry with
        headers["DPoP-Nonce"] = exc.nonce
    if path in TOKEN_PATHS:
        code = "invalid_request" if isinstance(exc, HTTPProblem) else exc.error
        body: dict[str, Any] = {"error": code, "error_description": exc.description}
        return RenderedError(status, body, OAUTH_JSON, headers)
    problem = {
        "type": "about:blank",
        "title": _phrase(status),
        "status": status,
        "detail": exc.description,
    }
    return RenderedError(status, problem, PROBLEM_JSON, headers)


def render_unexpected(path: str, exc: BaseException) -> RenderedError:
    """A 500 for an exception nobody meant to raise; its traceback goes to the log only."""
    log.error(
        "unexpected %s while serving %s", type(exc).__name__, escape_controls(path), exc_info=exc
    )
    return render(path, ServerError())


def _bearer(exc: BearerRejected) -> RenderedError:
    answer = (
        refusal(exc.cause, exc.realm, exc.schemes, exc.scheme)
        if exc.cause is not None
        else missing_credentials_for(exc.realm, exc.schemes)
    )
    headers = {**answer.headers, **NO_STORE}
    return RenderedError(answer.status_code, dict(answer.body), OAUTH_JSON, headers)


def _log(path: str, exc: OstiaryError) -> None:
    cause = exc.cause if isinstance(exc, BearerRejected) and exc.cause is not None else exc
    # A routing error (404, 405) is the client's, not a server_error: name it by its status.
    reason = (
        f"http_{exc.status}"
        if isinstance(exc, HTTPProblem)
        else getattr(cause, "reason", cause.error)
    )
    level = logging.ERROR if _status(exc) >= 500 else logging.INFO
    # The path and the detail may hold request data: escaped, they cannot forge a line.
    log.log(
        level,
        "%s on %s: %s (%s)",
        reason,
        escape_controls(path),
        escape_controls(cause.description),
        escape_controls(cause.detail or "-"),
    )


def _status(exc: OstiaryError) -> int:
    return exc.status if isinstance(exc, HTTPProblem) else exc.status_code


def _phrase(status: int) -> str:
    if status in _RFC_9110_PHRASES:
        return _RFC_9110_PHRASES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --- FastAPI wiring -------------------------------------------------------------------------


def validation_message(errors: Sequence[Any]) -> str:
    """A readable message for pydantic errors: where, and what was wrong. Never the input
    itself (it may be a password)."""
    parts = []
    for error in errors[:3]:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "the request"
        if error.get("type") == "missing":
            parts.append(f"'{where}' is required")
        else:
            parts.append(f"'{where}': {error.get('msg', 'is invalid')}")
    return "Invalid request: " + "; ".join(parts) + "."


def install_error_handlers(app: FastAPI) -> None:
    """Every error the routes raise, rendered here; the catch-all is a middleware
    (:class:`ostiary.server.middleware.CatchAllMiddleware`)."""

    async def ostiary_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OstiaryError)
        return render(request.url.path, exc).response()

    async def storage_error(request: Request, exc: Exception) -> Response:
        unavailable = TemporarilyUnavailable(detail=f"storage failed: {exc}")
        return render(request.url.path, unavailable).response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return render(request.url.path, HTTPProblem(exc.status_code, exc.headers)).response()

    async def invalid_input(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        error = InvalidRequest(validation_message(exc.errors()))
        return render(request.url.path, error).response()

    app.add_exception_handler(OstiaryError, ostiary_error)
    app.add_exception_handler(StorageError, storage_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_input)
