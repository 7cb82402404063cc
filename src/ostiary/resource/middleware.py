"""`BearerAuthMiddleware`: pure ASGI, so it protects any ASGI framework (Starlette, FastAPI,
Litestar, Quart...). Verified claims land in ``scope["auth"]`` (what Starlette's
``request.auth`` reads) and under ``scope["state"]["ostiary_claims"]``.

It also accepts DPoP-bound tokens (RFC 9449 §7.1: ``Authorization: DPoP`` and a ``DPoP`` proof
header) unless ``dpop=False``; ``require_dpop=True`` accepts nothing else. A DPoP-bound token
sent as a bearer token is refused either way (§7.2)."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from typing import Any, Final

from ostiary.errors import (
    DPoPRequired,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    OstiaryError,
    TemporarilyUnavailable,
    UseDPoPNonce,
)
from ostiary.logtext import escape_controls
from ostiary.resource._gate import Gate, quoted_path
from ostiary.resource.bearer import BearerError, Scheme
from ostiary.resource.csrf import CrossSiteRequest, TokenCookie
from ostiary.resource.verifier import TokenVerifier

log = logging.getLogger("ostiary.resource")

Scope = dict[str, Any]
Message = dict[str, Any]
STATE_KEY: Final = "ostiary_claims"
#: What a failed authentication raises: each is answered with a challenge, never a 500.
REFUSED: Final = (
    InvalidToken,
    InvalidRequest,
    TemporarilyUnavailable,
    CrossSiteRequest,
    InvalidDPoPProof,
    UseDPoPNonce,
)


class BearerAuthMiddleware:
    """Refuses every HTTP or WebSocket request without a valid access token, except on
    ``public_paths`` (exact matches), where a token is verified if sent but not required.
    With ``cookie`` (off by default), an HTTP request without an ``Authorization`` header may
    carry its token in that cookie, under that cookie's CSRF checks.

    ``dpop`` (on by default) accepts ``Authorization: DPoP`` with its proof besides bearer
    tokens (RFC 9449 §7.1), checked by ``verifier.dpop``; ``require_dpop`` accepts DPoP only,
    ``dpop=False`` bearer tokens only. A DPoP-bound token is never accepted as a bearer token.
    ``public_url`` is the URL clients reach the app at (scheme, host, and the path prefix a
    proxy strips): the proofs' ``htu`` is checked against it and the request's path. Set it
    whenever a proxy or load balancer stands in front, or the app answers to several host
    names; without it the URL is rebuilt from the request's scheme and ``Host`` header."""

    def __init__(
        self,
        app: Any,
        *,
        verifier: TokenVerifier,
        realm: str = "api",
        public_paths: Collection[str] = (),
        cookie: TokenCookie | None = None,
        dpop: bool = True,
        require_dpop: bool = False,
        public_url: str | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.realm = realm
        self.public_paths = frozenset(public_paths)
        self.cookie = cookie
        self.gate = Gate(
            verifier, realm=realm, dpop=dpop, require_dpop=require_dpop, public_url=public_url
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        required = scope.get("path", "") not in self.public_paths
        gate = self.gate
        scheme: Scheme | None = None
        try:
            credentials = gate.credentials(_authorization(scope), scope.get("query_string", b""))
            if credentials is None and self.cookie is not None and scope["type"] == "http":
                token = self.cookie.token(_headers(scope))
                credentials = ("bearer", token) if token is not None else None
            if credentials is None:
                if required:
                    await _reject(scope, send, gate.missing())
                    return
            else:
                scheme, token = credentials
                if scheme == "dpop":
                    claims = await self.verifier.verify_dpop(
                        token,
                        _header_values(scope, b"dpop"),
                        method=scope.get("method", "GET"),
                        url=request_url(gate, scope),
                    )
                    if scope["type"] == "http":
                        send = _with_nonce(send, gate.fresh_nonce())
                elif gate.require_dpop:
                    raise DPoPRequired(detail="a bearer token where DPoP is required")
                else:
                    claims = await self.verifier.verify(token)
                scope["auth"] = claims
                scope.setdefault("state", {})[STATE_KEY] = claims
        except REFUSED as exc:
            _log_failure(exc)
            await _reject(scope, send, gate.refusal(exc, scheme))
            return
        await self.app(scope, receive, send)


def request_url(gate: Gate, scope: Mapping[str, Any]) -> str:
    """The URL of an ASGI request as a DPoP proof names it (RFC 9449 §4.3 step 9): the path
    as received (``raw_path``, still percent-encoded), after ``public_url`` or the request's
    scheme and ``Host``."""
    raw = scope.get("raw_path")
    if raw:
        path = raw.decode("latin-1").partition("?")[0]
    else:
        path = quoted_path(scope.get("path", "/"))
    hosts = _header_values(scope, b"host")
    host = hosts[0] if len(hosts) == 1 else None  # two Host headers: no host at all
    if not hosts and scope.get("server"):  # HTTP/1.0 without Host: the socket's address
        name, port = scope["server"][0], scope["server"][1]
        name = f"[{name}]" if ":" in name else name  # an IPv6 literal
        host = name if port is None else f"{name}:{port}"
    return gate.request_url(scheme=scope.get("scheme", "http"), host=host, path=path)


def _header_values(scope: Mapping[str, Any], name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == name]


def _with_nonce(send: Any, nonce: str | None) -> Any:
    """RFC 9449 §8.2 and §9: a successful answer carries the current nonce, so that a client
    learns the next one before the one it uses expires."""
    if nonce is None:
        return send
    header = (b"dpop-nonce", nonce.encode("ascii"))

    async def send_with_nonce(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return send_with_nonce


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
