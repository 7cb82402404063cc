"""CORS for an explicit allow-list of origins, as one pure ASGI middleware (Fetch standard,
"CORS protocol"). An origin is matched exactly and only a listed one is ever echoed back; a
preflight is answered here only when its origin, method and headers are all allowed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.datastructures import Headers, MutableHeaders

from ostiary.server.middleware import ASGIApp, Message, Receive, Scope, Send

#: What the routes answer; OPTIONS is the preflight itself.
ALLOWED_METHODS: Final = ("GET", "POST", "DELETE")
#: ``Authorization`` for bearer tokens, ``Content-Type`` for JSON bodies, ``X-CSRF-Token`` for
#: browser mode's cookie refresh (ostiary.server.refresh_cookie), ``DPoP`` for proofs (RFC 9449
#: §4.1); the rest are the CORS-safelisted request headers, which some clients name anyway.
ALLOWED_HEADERS: Final = frozenset(
    {
        "authorization",
        "content-type",
        "x-csrf-token",
        "dpop",
        "accept",
        "accept-language",
        "content-language",
    }
)
#: So that a browser script can read why a bearer token was refused (RFC 6750 §3), and the
#: nonce its next DPoP proof must carry (RFC 9449 §8).
EXPOSED_HEADERS: Final = "WWW-Authenticate, DPoP-Nonce"
PREFLIGHT_MAX_AGE: Final = "600"


class CORSMiddleware:
    """Adds ``Vary: Origin`` to every response (what it answers depends on the ``Origin``) and
    the ``Access-Control-*`` headers to those for a listed origin. A refused preflight goes on
    to the app, which answers ``OPTIONS`` with 405 and no CORS header: the browser blocks it."""

    def __init__(
        self, app: ASGIApp, *, origins: Iterable[str], allow_credentials: bool = False
    ) -> None:
        self.app = app
        self.origins = frozenset(origins)
        if "*" in self.origins:
            raise ValueError("CORS origins are listed one by one: '*' is refused")
        self.allow_credentials = allow_credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Headers(scope=scope)
        origin = request.get("origin")
        listed = origin is not None and origin in self.origins
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in request
        if preflight and listed and self._allows(request):
            await self._answer_preflight(send, origin=str(origin))
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")
                if listed and not preflight:
                    self._allow(headers, origin=str(origin))
                    headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _allows(self, request: Headers) -> bool:
        """Whether the preflight asks for an allowed method and allowed headers only."""
        method = request["access-control-request-method"].strip()
        asked = request.get("access-control-request-headers", "")
        names = {name.strip().lower() for name in asked.split(",")} - {""}
        return method in ALLOWED_METHODS and names <= ALLOWED_HEADERS

    def _allow(self, headers: MutableHeaders, *, origin: str) -> None:
        headers["Access-Control-Allow-Origin"] = origin
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"

    async def _answer_preflight(self, send: Send, *, origin: str) -> None:
        headers = MutableHeaders()
        self._allow(headers, origin=origin)
        headers["Access-Control-Allow-Methods"] = ", ".join(ALLOWED_METHODS)
        headers["Access-Control-Allow-Headers"] = ", ".join(sorted(ALLOWED_HEADERS))
        headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        headers["Vary"] = "Origin"
        await send({"type": "http.response.start", "status": 204, "headers": headers.raw})
        await send({"type": "http.response.body", "body": b""})
