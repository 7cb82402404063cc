"""Security headers on every response, as one pure ASGI middleware: no sniffing, no referrer,
HSTS over HTTPS, a strict CSP on HTML that has none of its own, ``no-store`` on what carries
credentials or tokens, and no header that names the server software."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from fastapi import FastAPI

from ostiary.server.middleware import ASGIApp, Message, Receive, Scope, Send

HSTS: Final = "max-age=31536000; includeSubDomains"
#: For HTML that set no policy: nothing may load, submit or frame it.
STRICT_CSP: Final = (
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: For the dev-mode API docs (Swagger UI runs inline script from a CDN): framing is still denied.
DOCS_CSP: Final = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
#: Token, credential and personal-data endpoints (RFC 6749 §5.1, OpenID Connect Core §5.3.2).
NO_STORE_PREFIX: Final = "/auth/"
NO_STORE_PATHS: Final = frozenset(
    {"/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/userinfo"}
)
#: Headers that tell an attacker which software (and version) to try.
BANNER_HEADERS: Final = ("server", "x-powered-by")


class SecurityHeadersMiddleware:
    """Sets the headers on the ``http.response.start`` of every HTTP response, whichever
    layer wrote it (routes, error handlers, the body cap, the catch-all)."""

    def __init__(self, app: ASGIApp, *, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        https = scope.get("scheme") == "https"

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = secure_headers(
                    message.get("headers") or [],
                    path=path,
                    https=https,
                    docs_paths=self.docs_paths,
                )
            await send(message)

        await self.app(scope, receive, send_secured)


def secure_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    path: str,
    https: bool,
    docs_paths: frozenset[str] = frozenset(),
) -> list[tuple[bytes, bytes]]:
    """The headers of an answer at ``path`` as sent: one pass over the raw header list (this
    runs on every response): drop the banners and the headers set here, add ours, and add the
    HTML ones only where none is set. A pure function of its arguments (the hot paths,
    :mod:`ostiary.server.hot_paths`, keep its results)."""
    replaced = _REPLACED_NO_STORE if needs_no_store(path) else _REPLACED
    out = []
    content_type = b""
    present = set()
    for name, value in headers:
        lowered = name.lower()
        if lowered in replaced:
            continue
        if lowered == b"content-type":
            content_type = value
        present.add(lowered)
        out.append((name, value))
    out += _ALWAYS
    if https:
        # Only over HTTPS: a browser ignores it over HTTP (RFC 6797 §8.1), and a plain-HTTP
        # answer saying so would be forgeable by anyone on the path anyway.
        out.append((b"strict-transport-security", HSTS.encode()))
    if content_type[:9].lower() == b"text/html":
        csp = DOCS_CSP if path in docs_paths else STRICT_CSP
        if b"content-security-policy" not in present:  # pages keep their own
            out.append((b"content-security-policy", csp.encode()))
        if b"x-frame-options" not in present:
            out.append((b"x-frame-options", b"DENY"))
    if replaced is _REPLACED_NO_STORE:
        out.append((b"cache-control", b"no-store"))
        if b"pragma" not in present:
            out.append((b"pragma", b"no-cache"))
    return out


#: Set on every response, replacing whatever the app set.
_ALWAYS: Final = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
_REPLACED: Final = frozenset(
    {
        b"x-content-type-options",
        b"referrer-policy",
        b"strict-transport-security",
        *(name.encode() for name in BANNER_HEADERS),
    }
)
_REPLACED_NO_STORE: Final = _REPLACED | {b"cache-control"}


def needs_no_store(path: str) -> bool:
    """Whether answers at ``path`` carry tokens, credentials or personal data."""
    return path.startswith(NO_STORE_PREFIX) or path in NO_STORE_PATHS


def docs_paths(app: FastAPI) -> frozenset[str]:
    """The HTML pages of the API docs that ``app`` serves (dev mode only)."""
    paths = (app.docs_url, app.swagger_ui_oauth2_redirect_url if app.docs_url else None)
    return frozenset(path for path in paths if path)
