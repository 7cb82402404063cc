"""`BearerAuthMiddleware`: pure ASGI, so it protects any ASGI framework (Starlette, FastAPI,
Litestar, Quart...). Verified claims land in ``scope["auth"]`` (what Starlette's
``request.auth`` reads) and under ``scope["state"]["ostiary_claims"]``."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from typing import Any, Final

from ostiary.errors import InvalidRequest, InvalidToken, OstiaryError, TemporarilyUnavailable
from ostiary.logtext import escape_controls
from ostiary.resource.bearer import BearerError, bearer_error, extract_bearer, missing_credentials
from ostiary.resource.csrf import CrossSiteRequest, TokenCookie
from ostiary.resource.verifier import TokenVerifier

log = logging.getLogger("ostiary.resource")

Scope = dict[str, Any]
Message = dict[str, Any]
STATE_KEY: Final = "ostiary_claims"


class BearerAuthMiddleware:
    """Refuses every HTTP or WebSocket request without a valid access token, except on
    ``public_paths`` (exact matches), where a token is verified if sent but not required.
    With ``cookie`` (off by default), an HTTP request without an ``Authorization`` header may
    carry its token in that cookie, under that cookie's CSRF checks."""

    def __init__(
        self,
        app: Any,
        *,
        verifier: TokenVerifier,
        realm: str = "api",
        public_paths: Collection[str] = (),
        cookie: TokenCookie | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.realm = realm
        self.public_paths = frozenset(public_paths)
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        required = scope.get("path", "") not in self.public_paths
        try:
            token = extract_bearer(_authorization(scope), scope.get("query_string", b""))
            if token is None and self.cookie is not None and scope["type"] == "http":
                token = self.cookie.token(_headers(scope))
            if token is None:
                if required:
                    await _reject(scope, send, missing_credentials(self.realm))
                    return
            else:
                claims = await self.verifier.verify(token)
                scope["auth"] = claims
                scope.setdefault("state", {})[STATE_KEY] = claims
        except (InvalidToken, InvalidRequest, TemporarilyUnavailable, CrossSiteRequest) as exc:
            _log_failure(exc)
            await _reject(scope, send, bearer_error(exc, self.realm))
            return
        await self.app(scope, receive, send)


def _authorization(scope: Scope) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"authorization"]


def _headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())]


def _log_failure(exc: OstiaryError) -> None:
    reason = getattr(exc, "reason", exc.error)
    # The detail may quote the token's header or claims: escaped, it cannot forge a line.
    detail = escape_controls(exc.detail or exc.description)
    log.info("bearer authentication failed: %s (%s)", reason, detail)


async def _reject(scope: Scope, send: Any, error: BearerError) -> None:
    headers = [
        (b"content-type", b"application/json"),
        *(
            (name.lower().encode(), value.encode("latin-1"))
            for name, value in error.headers.items()
        ),
        (b"cache-control", b"no-store"),
    ]
    if scope["type"] == "websocket":
        # Before accept, a close makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(error.body).encode()
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
