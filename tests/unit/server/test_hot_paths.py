"""The hot-path dispatcher (ostiary.server.hot_paths) on its own, in front of a small app of
its own: which requests it answers and which go on, and what it does around a handler (caps,
errors, security headers, Vary, the access log, the metrics, the audit context)."""

from __future__ import annotations

import io
import json
from typing import Any, Final

import httpx
import pytest
from starlette.exceptions import HTTPException

from ostiary.audit import current_request
from ostiary.errors import InvalidClient, TemporarilyUnavailable
from ostiary.server.access_log import AccessLog
from ostiary.server.errors import HeadersTooLarge, HTTPProblem, render, render_unexpected
from ostiary.server.hot_paths import Answer, HotPaths, error_answer
from ostiary.server.metrics import Metrics
from ostiary.server.middleware import Message, Receive, Scope, Send
from ostiary.storage.protocols import StorageError

HOT: Final = "/hot"
STACK_BODY: Final = b"from the stack"
LIMIT: Final = 100


class Stack:
    """The app behind the hot paths: answers every request with ``STACK_BODY`` and keeps
    what it was asked."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append((scope["type"], scope.get("method", ""), scope.get("path", "")))
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": STACK_BODY})


class Handler:
    """A hot route: reads the body, keeps it and the audit context it ran in; raises
    ``raises`` if set, else answers ``hot`` with the ``headers`` given."""

    def __init__(self, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        self.headers = headers
        self.bodies: list[bytes] = []
        self.contexts: list[Any] = []
        self.raises: Exception | None = None

    async def __call__(self, scope: Scope, receive: Receive) -> Answer:
        self.contexts.append(current_request.get())
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        if self.raises is not None:
            raise self.raises
        return Answer(200, (*self.headers, (b"content-length", b"3")), b"hot")


def dispatcher(
    handler: Handler,
    *,
    cors: bool = False,
    access_log: AccessLog | None = None,
    metrics: Metrics | None = None,
) -> tuple[HotPaths, Stack]:
    stack = Stack()
    hot = HotPaths(
        stack,
        {("POST", HOT): handler},
        access_log=access_log,
        metrics=metrics,
        max_body_bytes=LIMIT,
        max_header_bytes=1000,
        max_header_count=10,
        cors=cors,
    )
    return hot, stack


async def send(app: HotPaths, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(method, path, **kwargs)


async def test_the_hot_method_and_path_are_answered_by_the_handler() -> None:
    handler = Handler()
    hot, stack = dispatcher(handler)
    response = await send(hot, "POST", HOT, content=b"abc")
    assert (response.status_code, response.content) == (200, b"hot")
    assert handler.bodies == [b"abc"] and stack.seen == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", HOT),
        ("HEAD", HOT),
        ("PUT", HOT),
        ("OPTIONS", HOT),
        ("POST", HOT + "/"),
        ("POST", HOT + "/more"),
        ("POST", HOT + "x"),
        ("POST", "/HOT"),
        ("POST", "/"),
    ],
)
async def test_every_other_request_goes_to_the_stack(method: str, path: str) -> None:
    handler = Handler()
    hot, stack = dispatcher(handler)
    response = await send(hot, method, path)
    assert response.status_code == 200
    assert stack.seen == [("http", method, path)] and handler.bodies == []


async def test_a_root_path_goes_to_the_stack() -> None:
    """Behind a ``root_path`` the router matches what is left of the path: left to it."""
    handler = Handler()
    hot, stack = dispatcher(handler)
    transport = httpx.ASGITransport(app=hot, root_path="/prefix")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(HOT)
    assert response.content == STACK_BODY and handler.bodies == []
    assert stack.seen == [("http", "POST", HOT)]


async def test_lifespan_and_websockets_go_to_the_stack() -> None:
    hot, stack = dispatcher(Handler())

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def ignore(message: Message) -> None:
        pass

    for kind in ("lifespan", "websocket"):
        await hot({"type": kind, "path": HOT, "method": "POST", "headers": []}, receive, ignore)
    assert [seen[0] for seen in stack.seen] == ["lifespan", "websocket"]


async def test_with_cors_a_request_with_an_origin_goes_to_the_stack() -> None:
    handler = Handler()
    hot, stack = dispatcher(handler, cors=True)
    response = await send(hot, "POST", HOT, headers={"Origin": "https://app.example"})
    assert response.content == STACK_BODY and handler.bodies == []
    assert stack.seen == [("http", "POST", HOT)]
    response = await send(hot, "POST", HOT)
    assert response.content == b"hot" and response.headers["vary"] == "Origin"


async def test_with_cors_origin_joins_a_vary_of_the_answer() -> None:
    """As Starlette's ``add_vary_header``: appended to the first ``Vary``, the others gone."""
    hot, _ = dispatcher(Handler(((b"vary", b"Accept"), (b"vary", b"Cookie"))), cors=True)
    response = await send(hot, "POST", HOT)
    assert response.headers.get_list("vary") == ["Accept, Origin"]


async def test_without_cors_no_vary_is_added() -> None:
    hot, _ = dispatcher(Handler())
    assert "vary" not in (await send(hot, "POST", HOT)).headers


async def test_the_security_headers_are_those_of_every_answer() -> None:
    hot, _ = dispatcher(Handler(((b"server", b"leaky/1.0"), (b"content-type", b"text/plain"))))
    response = await send(hot, "POST", HOT)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "server" not in response.headers and "strict-transport-security" not in response.headers


async def test_the_kept_secured_headers_are_never_handed_out_to_be_changed() -> None:
    """The server may change the header list it is given: the next answer is unaffected."""
    hot, _ = dispatcher(Handler())
    headers = hot._secure((), HOT, False)
    headers.append((b"x-changed", b"1"))
    assert (b"x-changed", b"1") not in hot._secure((), HOT, False)


async def test_caps_answer_before_the_handler_runs() -> None:
    handler = Handler()
    hot, _ = dispatcher(handler)
    declared = await send(hot, "POST", HOT, content=b"x" * (LIMIT + 1))
    many = await send(hot, "POST", HOT, headers={f"x-{i}": "1" for i in range(11)})
    large = await send(hot, "POST", HOT, headers={"x-big": "y" * 1000})
    assert [declared.status_code, many.status_code, large.status_code] == [413, 431, 431]
    assert handler.bodies == []


async def test_a_body_that_passes_the_cap_while_read_is_413() -> None:
    handler = Handler()
    hot, _ = dispatcher(handler)

    async def chunks() -> Any:
        for _ in range(3):
            yield b"x" * 40

    response = await send(hot, "POST", HOT, content=chunks())
    assert response.status_code == 413
    assert response.json()["detail"] == f"The request body is larger than {LIMIT} bytes."


async def test_the_handler_runs_in_the_request_audit_context() -> None:
    handler = Handler()
    hot, _ = dispatcher(handler)
    await send(hot, "POST", HOT)
    (context,) = handler.contexts
    assert context is not None and context["client"] == ("203.0.113.7", 4321)
    assert current_request.get() is None


@pytest.mark.parametrize(
    "exc",
    [
        InvalidClient(detail="who?"),
        TemporarilyUnavailable(),
        StorageError("down"),
        HTTPException(405, headers={"Allow": "GET"}),
        RuntimeError("boom"),
    ],
    ids=["oauth", "unavailable", "storage", "starlette", "unexpected"],
)
async def test_a_handler_error_is_answered_as_the_app_renders_it(exc: Exception) -> None:
    handler = Handler()
    handler.raises = exc
    hot, _ = dispatcher(handler)
    response = await send(hot, "POST", HOT)
    expected = error_answer(HOT, exc)
    assert response.status_code == expected.status
    assert response.content == expected.body
    assert response.headers["x-content-type-options"] == "nosniff"


def test_error_answers_are_the_renderers_own() -> None:
    """The mapping of :func:`ostiary.server.errors.install_error_handlers` and the
    catch-all's."""
    path = "/oauth/token"

    def body(exc: Exception) -> bytes:
        return error_answer(path, exc).body

    unavailable = TemporarilyUnavailable(detail="storage failed: down")
    assert body(StorageError("down")) == render(path, unavailable).content()
    assert body(InvalidClient()) == render(path, InvalidClient()).content()
    routing = render(path, HTTPProblem(405, {"Allow": "GET"}))
    assert error_answer(path, HTTPException(405, headers={"Allow": "GET"})).headers == (
        routing.asgi_headers(len(routing.content()))
    )
    assert body(KeyError("x")) == render_unexpected(path, KeyError("x")).content()


async def test_each_request_is_one_access_log_line_and_one_observation() -> None:
    stream = io.StringIO()
    access_log = AccessLog(stream)
    metrics = Metrics()
    handler = Handler()
    hot, _ = dispatcher(handler, access_log=access_log, metrics=metrics)
    await send(hot, "POST", HOT + "?client_secret=s3cret", content=b"abc")
    handler.raises = RuntimeError("boom")
    await send(hot, "POST", HOT)
    await send(hot, "POST", HOT, headers={f"x-{i}": "1" for i in range(11)})
    access_log.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["status"], line["bytes"], line["path"]) for line in lines] == [
        (200, 3, HOT + "?client_secret=REDACTED"),
        (500, len(render_unexpected(HOT, RuntimeError()).content()), HOT),
        (431, len(render(HOT, HeadersTooLarge()).content()), HOT),
    ]
    assert all(line["method"] == "POST" and line["client"] == "203.0.113.7:4321" for line in lines)

    def count(route: str, status: str) -> float | None:
        labels = {"route": route, "method": "POST", "status": status}
        return metrics.registry.get_sample_value("ostiary_request_duration_seconds_count", labels)

    # Under the route's template; a request the caps refused never reached a route.
    assert (count(HOT, "2xx"), count(HOT, "5xx"), count("unmatched", "4xx")) == (1, 1, 1)
