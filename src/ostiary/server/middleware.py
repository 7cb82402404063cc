"""Pure ASGI middlewares: caps on request headers and bodies, and the catch-all that turns
any unexpected exception into a plain 500. All render through :mod:`ostiary.server.errors`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from ostiary.server.errors import (
    HeadersTooLarge,
    PayloadTooLarge,
    RenderedError,
    render,
    render_unexpected,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the body passes the cap."""


class _Response:
    """Tracks whether the response has started, so that an error can still be sent."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        #: Set when the body was refused: whatever the app answers then is replaced by a 413.
        self.replace_with: RenderedError | None = None

    async def send(self, message: Message) -> None:
        if self.replace_with is not None:
            if message["type"] == "http.response.start" and not self.started:
                await self.send_error(self.replace_with)
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def send_error(self, error: RenderedError) -> None:
        body = error.content()
        self.started = True
        await self._send(
            {
                "type": "http.response.start",
                "status": error.status_code,
                "headers": error.asgi_headers(len(body)),
            }
        )
        await self._send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """413 for a body over ``max_bytes``: at once when ``Content-Length`` says so, otherwise
    (chunked bodies) as soon as the bytes received pass the limit, whatever the app makes of
    the interrupted body."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        response = _Response(send)
        if declared_length(scope.get("headers", ())) > self.max_bytes:
            await response.send_error(render(path, PayloadTooLarge(self.max_bytes)))
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    response.replace_with = render(path, PayloadTooLarge(self.max_bytes))
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, response.send)
        except BodyTooLarge:
            pass
        if response.replace_with is not None and not response.started:
            await response.send_error(response.replace_with)


class HeaderLimitMiddleware:
    """431 (RFC 6585 §5) for more than ``max_count`` header lines or more than ``max_bytes`` of
    them (names and values, plus the four bytes of ``": "`` and CRLF each), before any route
    reads one. uvicorn's httptools parser sets no limit of its own; see ``ostiary serve``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_count: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_count = max_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and headers_too_large(
            scope.get("headers", ()), max_bytes=self.max_bytes, max_count=self.max_count
        ):
            error = render(scope.get("path", ""), HeadersTooLarge())
            await _Response(send).send_error(error)
            return
        await self.app(scope, receive, send)


def headers_too_large(
    headers: Sequence[tuple[bytes, bytes]], *, max_bytes: int, max_count: int
) -> bool:
    """Whether the request's header section passes the caps of
    :class:`HeaderLimitMiddleware`: more than ``max_count`` lines, or more than ``max_bytes``
    (names and values, plus the four bytes of ``": "`` and CRLF each)."""
    if len(headers) > max_count:
        return True
    return sum(len(name) + len(value) + 4 for name, value in headers) > max_bytes


class CatchAllMiddleware:
    """The last line: an exception that escaped every handler is logged with its traceback
    and answered with a 500 ``server_error`` that shows nothing of it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = _Response(send)
        try:
            await self.app(scope, receive, response.send)
        except Exception as exc:
            error = render_unexpected(scope.get("path", ""), exc)
            if not response.started:
                await response.send_error(error)


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The request's ``Content-Length`` (0 when absent or malformed)."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses a malformed length before we see it
    return 0
