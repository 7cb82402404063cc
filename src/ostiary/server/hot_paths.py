"""The two hottest requests, answered in one step: ``GET /.well-known/jwks.json`` (every
resource service and JWKS cache asks for it) and ``POST /oauth/token`` (every service fetches
its tokens there).

On its way to a route a request crosses FastAPI's outer middlewares, the access log, the
security headers, CORS, the catch-all, the metrics, the header and body caps, the exception
handlers and routing over every route: for a JWKS GET that cost twice what the answer itself
did. :class:`HotPaths` sits in front of that stack and answers these (method, path) pairs
itself, doing what each layer does, through the same functions:

- the caps: more header lines or bytes than allowed → 431; a declared ``Content-Length`` over
  the body cap → 413; a body that passes the cap while it is read → 413
  (:mod:`ostiary.server.middleware`);
- the audit trail's request context (:data:`ostiary.audit.current_request`);
- errors: what the app's exception handlers answer (:func:`error_answer`, through
  :func:`ostiary.server.errors.render`), and for anything unexpected what the catch-all does
  (:func:`~ostiary.server.errors.render_unexpected`: logged, a bare 500);
- the security headers (:func:`ostiary.server.headers.secure_headers`, kept per distinct
  header list: the answers of these routes repeat);
- with CORS configured, ``Vary: Origin`` as the CORS middleware adds it; a request that
  carries an ``Origin`` goes to the stack, whose CORS middleware answers it;
- the request-duration metric under the route's template, and the access-log line
  (:func:`ostiary.server.access_log.log_request`).

Anything else goes to the stack unchanged: another method (``HEAD`` included), another path (a
trailing slash or any suffix), a ``root_path``, websockets and the lifespan.
tests/http/test_server_hot_paths.py compares each answer with the stack's own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, NamedTuple

from starlette.exceptions import HTTPException as StarletteHTTPException

from ostiary.audit import current_request
from ostiary.errors import OstiaryError, TemporarilyUnavailable
from ostiary.server.access_log import AccessLog, log_request
from ostiary.server.errors import (
    HeadersTooLarge,
    HTTPProblem,
    PayloadTooLarge,
    RenderedError,
    render,
    render_unexpected,
)
from ostiary.server.headers import secure_headers
from ostiary.server.metrics import UNMATCHED, Metrics
from ostiary.server.middleware import (
    ASGIApp,
    BodyTooLarge,
    Message,
    Receive,
    Scope,
    Send,
    declared_length,
    headers_too_large,
)
from ostiary.storage.protocols import StorageError

Headers = Sequence[tuple[bytes, bytes]]
#: Distinct (path, scheme, header list) kept with their secured headers; past it, each is
#: secured again (an error's ``Retry-After`` may vary, the routes' own answers do not).
SECURED_CACHE_SIZE: Final = 256


class Answer(NamedTuple):
    """A whole answer: status, raw headers (as a route would send them: the security headers
    are added after) and body."""

    status: int
    headers: Headers
    body: bytes


#: A hot route: the answer to the request of ``scope``, whose body ``receive`` gives.
HotHandler = Callable[[Scope, Receive], Awaitable[Answer]]


class HotPaths:
    """In front of ``app`` (the whole middleware stack), answers the requests of
    ``handlers`` (by method and path) as the stack would, in one step."""

    def __init__(
        self,
        app: ASGIApp,
        handlers: Mapping[tuple[str, str], HotHandler],
        *,
        access_log: AccessLog | None,
        metrics: Metrics | None,
        max_body_bytes: int,
        max_header_bytes: int,
        max_header_count: int,
        cors: bool,
    ) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.access_log = access_log
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.max_header_count = max_header_count
        self.cors = cors
        self._secured: dict[tuple[str, bool, Headers], list[tuple[bytes, bytes]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            handler = self.handlers.get((scope["method"], scope["path"]))
            if handler is not None and not (self.cors and _has_origin(scope["headers"])):
                await self._serve(handler, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, handler: HotHandler, scope: Scope, receive: Receive, send: Send) -> None:
        wall = time.time()
        start = time.perf_counter()
        path: str = scope["path"]
        status = 500  # the metrics' status of an answer that never began, as in the stack
        logged = 499  # the access log's, unless an exception escaped (then 500)
        sent = 0
        template = UNMATCHED
        context = current_request.set(scope)
        try:
            headers = scope["headers"]
            if headers_too_large(
                headers, max_bytes=self.max_header_bytes, max_count=self.max_header_count
            ):
                answer = _rendered(render(path, HeadersTooLarge()))
            elif declared_length(headers) > self.max_body_bytes:
                answer = _rendered(render(path, PayloadTooLarge(self.max_body_bytes)))
            else:
                template = path  # the route's template: these paths have no parameters
                answer = await self._answer(handler, scope, receive, path)
            secured = self._secure(answer.headers, path, scope.get("scheme") == "https")
            # Counted before each send, as the access log and the metrics count in the stack.
            status = logged = answer.status
            await send({"type": "http.response.start", "status": status, "headers": secured})
            sent = len(answer.body)
            await send({"type": "http.response.body", "body": answer.body})
        except Exception:
            if logged == 499:
                logged = 500
            raise
        finally:
            current_request.reset(context)
            elapsed = time.perf_counter() - start
            if self.metrics is not None:
                self.metrics.request_done(template, scope["method"], status, elapsed)
            if self.access_log is not None:
                log_request(
                    self.access_log, scope, wall=wall, elapsed=elapsed, status=logged, sent=sent
                )

    async def _answer(
        self, handler: HotHandler, scope: Scope, receive: Receive, path: str
    ) -> Answer:
        limit = self.max_body_bytes
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            return await handler(scope, counting_receive)
        except BodyTooLarge:
            return _rendered(render(path, PayloadTooLarge(limit)))
        except Exception as exc:
            return error_answer(path, exc)

    def _secure(self, headers: Headers, path: str, https: bool) -> list[tuple[bytes, bytes]]:
        if self.cors:
            headers = _vary_origin(headers)
        key = (path, https, tuple(headers))
        secured = self._secured.get(key)
        if secured is None:
            secured = secure_headers(headers, path=path, https=https)
            if len(self._secured) < SECURED_CACHE_SIZE:
                self._secured[key] = secured
        return list(secured)  # the server's to keep: the kept one stays as it is


def error_answer(path: str, exc: Exception) -> Answer:
    """What the stack answers for ``exc`` raised by the route at ``path``: the app's exception
    handlers' answer (:func:`ostiary.server.errors.install_error_handlers`: an
    :class:`~ostiary.errors.OstiaryError`, a storage failure as ``temporarily_unavailable``,
    a Starlette HTTP error), otherwise the catch-all's 500."""
    if isinstance(exc, StorageError):
        return _rendered(render(path, TemporarilyUnavailable(detail=f"storage failed: {exc}")))
    if isinstance(exc, OstiaryError):
        return _rendered(render(path, exc))
    if isinstance(exc, StarletteHTTPException):
        return _rendered(render(path, HTTPProblem(exc.status_code, exc.headers)))
    return _rendered(render_unexpected(path, exc))


def _rendered(error: RenderedError) -> Answer:
    body = error.content()
    return Answer(error.status_code, error.asgi_headers(len(body)), body)


def _has_origin(headers: Headers) -> bool:
    return any(name == b"origin" for name, _ in headers)


def _vary_origin(headers: Headers) -> Headers:
    """``headers`` with ``Origin`` added to ``Vary``, as the CORS middleware adds it to every
    answer to a request without ``Origin`` (Starlette's ``add_vary_header``: appended to the
    first ``Vary``, the others dropped, or a new one)."""
    out: list[tuple[bytes, bytes]] = []
    vary: int | None = None
    for name, value in headers:
        if name == b"vary":
            if vary is None:
                vary = len(out)
                out.append((b"vary", value + b", Origin"))
            continue
        out.append((name, value))
    if vary is None:
        out.append((b"vary", b"Origin"))
    return out
