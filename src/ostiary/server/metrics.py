"""Prometheus metrics (off unless ``OSTIARY_METRICS_ENABLED``) and the pure ASGI middleware that
times requests and tells the audit trail which request it is serving.

Tokens issued and login failures are counted from the audit trail's events (a listener), so
that no flow needs a second hook. ``GET /metrics`` wants ``Authorization: Bearer
<OSTIARY_METRICS_TOKEN>`` when that is set, and is served only to loopback clients when not.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.audit import Outcome, current_request
from ostiary.errors import AccessDenied, InvalidToken, OstiaryError
from ostiary.server.errors import BearerRejected, render
from ostiary.storage.records import AuditEvent

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

PATH: Final = "/metrics"
#: The template of a request no route took (a 404, or one a cap answered before routing).
UNMATCHED: Final = "unmatched"
#: Request latency buckets, seconds: the token endpoint answers in about a millisecond.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Metrics:
    """The server's metrics, in a registry of their own (one per app). ``prometheus_client``
    (with what it imports, 2 MB of the server's memory) is imported only when metrics are
    on, i.e. when this is made."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=False)
        self.tokens_issued = Counter(
            "ostiary_tokens_issued",
            "Tokens issued, by kind (access, refresh, id) and grant.",
            ["kind", "grant"],
            registry=self.registry,
        )
        self.verification_failures = Counter(
            "ostiary_token_verification_failures",
            "Access tokens the server's own routes refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.login_failures = Counter(
            "ostiary_login_failures", "Failed password logins.", registry=self.registry
        )
        self.request_duration = Histogram(
            "ostiary_request_duration_seconds",
            "Request latency, by route template, method and status class.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # labels() takes a lock and builds a key on every call: children are cached here.
        self._children: dict[tuple[str, str, str], Any] = {}

    def observe(self, event: AuditEvent) -> None:
        """An audit trail listener: counts tokens issued and login failures."""
        if event.outcome == Outcome.SUCCESS:
            tokens = event.data.get("tokens")
            if tokens:
                grant = event.data.get("grant", "unknown")
                for kind in tokens.split(","):
                    self.tokens_issued.labels(kind, grant).inc()
        elif event.kind == "login":
            self.login_failures.inc()

    def verification_failed(self, exc: OstiaryError | None) -> None:
        reason = "missing" if exc is None else getattr(exc, "reason", exc.error)
        self.verification_failures.labels(reason).inc()

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        status_class = _STATUS_CLASSES[status // 100 - 1] if 100 <= status < 600 else "other"
        key = (route, method, status_class)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.request_duration.labels(*key)
        child.observe(seconds)

    def exposition(self) -> bytes:
        from prometheus_client.exposition import generate_latest

        return generate_latest(self.registry)


class ObservabilityMiddleware:
    """Puts the request's scope where the audit trail finds it (its client address and user
    agent) and, with ``metrics``, times the request by route template. FastAPI's routes put
    themselves in the scope; a plain Starlette route (the token endpoint, the JWKS) only its
    endpoint, whose template ``templates`` gives (:func:`route_templates`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None,
        templates: Mapping[Callable[..., Any], str] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = dict(templates or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = current_request.set(scope)
        try:
            if self.metrics is None:
                await self.app(scope, receive, send)
            else:
                await self._timed(self.metrics, scope, receive, send)
        finally:
            current_request.reset(token)

    async def _timed(self, metrics: Metrics, scope: Scope, receive: Receive, send: Send) -> None:
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            # The template, never the path: ids in paths would make a series per id.
            template = (
                getattr(route, "path", None)
                or self.templates.get(scope.get("endpoint"))  # type: ignore[arg-type]
                or UNMATCHED
            )
            metrics.request_done(template, scope["method"], status, time.perf_counter() - started)


def route_templates(routes: Iterable[BaseRoute]) -> dict[Callable[..., Any], str]:
    """The path template of each route by its endpoint, for the routes that do not put
    themselves in the scope (Starlette's ``Route``); an endpoint served at two paths is left
    out (it cannot tell which)."""
    templates: dict[Callable[..., Any], str] = {}
    shared: set[Callable[..., Any]] = set()
    for route in routes:
        if isinstance(route, Route):
            if route.endpoint in templates and templates[route.endpoint] != route.path:
                shared.add(route.endpoint)
            templates[route.endpoint] = route.path
    return {endpoint: path for endpoint, path in templates.items() if endpoint not in shared}


def metrics_route(metrics: Metrics, *, token: str | None) -> Route:
    """``GET /metrics``: with ``token``, for a matching Bearer token only (compared in constant
    time); without, for loopback clients only."""
    from prometheus_client import CONTENT_TYPE_LATEST

    expected = token.encode() if token is not None else None

    async def serve(request: Request) -> Response:
        try:
            _admit(request, expected)
        except OstiaryError as exc:
            return render(request.url.path, exc).response()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Route(PATH, serve, methods=["GET"], name="metrics")


def _admit(request: Request, expected: bytes | None) -> None:
    if expected is None:
        host = request.client.host if request.client is not None else ""
        if not _is_loopback(host):
            raise AccessDenied("Metrics are served to loopback clients only.")
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise BearerRejected(None, realm="ostiary-metrics")
    if not hmac.compare_digest(given.strip().encode(), expected):
        raise BearerRejected(InvalidToken(detail="wrong metrics token"), realm="ostiary-metrics")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
