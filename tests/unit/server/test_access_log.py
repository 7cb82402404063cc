"""The access log (ostiary.server.access_log): one JSON line per request, credentials
redacted, control characters escaped, written in batches by a thread, and a stalled output
costs lines, never requests."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ostiary.server.access_log import (
    AccessLog,
    AccessLogMiddleware,
    access_line,
    line_pieces,
    write_lines_atomically,
)


class Collected(io.StringIO):
    """A stream that records what was written, and signals each write."""

    def __init__(self) -> None:
        super().__init__()
        self.wrote = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        self.wrote.set()
        return written

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.getvalue().splitlines()]


def app_logging_to(access_log: AccessLog) -> AccessLogMiddleware:
    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello")

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    app = Starlette(routes=[Route("/hello", hello), Route("/boom", boom)])
    return AccessLogMiddleware(app, access_log=access_log)


async def get(app: AccessLogMiddleware, target: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(target)


async def test_each_request_is_one_json_line_with_what_an_operator_needs() -> None:
    stream = Collected()
    access_log = AccessLog(stream, interval=0.01)
    app = app_logging_to(access_log)

    await get(app, "/hello?state=s1")
    await get(app, "/missing")
    access_log.close()

    first, second = stream.lines()
    assert first["client"] == "203.0.113.7:4321"
    assert (first["method"], first["path"], first["status"]) == ("GET", "/hello?state=s1", 200)
    assert first["bytes"] == len("hello") and first["http"] == "1.1"
    assert first["ms"] >= 0 and first["time"].endswith("+00:00")
    assert (second["path"], second["status"]) == ("/missing", 404)


async def test_credentials_in_the_query_never_reach_the_output() -> None:
    stream = Collected()
    access_log = AccessLog(stream, interval=0.01)

    await get(app_logging_to(access_log), "/hello?code=SECRET1&client_id=app&access_token=SECRET2")
    access_log.close()

    assert "SECRET" not in stream.getvalue()
    assert stream.lines()[0]["path"] == "/hello?code=REDACTED&client_id=app&access_token=REDACTED"


def test_control_characters_cannot_forge_a_line() -> None:
    line = access_line(
        started=0.0,
        elapsed=0.001,
        client=("127.0.0.1", 1),
        method="GET",
        target='/x?a=1\n{"status":200,"path":"/forged"}\r',
        http_version="1.1",
        status=400,
        sent=0,
    )
    assert "\n" not in line and "\r" not in line
    assert json.loads(line)["status"] == 400


async def test_an_exception_that_escapes_is_logged_as_the_500_it_becomes() -> None:
    stream = Collected()
    access_log = AccessLog(stream, interval=0.01)
    with pytest.raises(RuntimeError):
        await get(app_logging_to(access_log), "/boom")
    access_log.close()
    assert stream.lines()[0]["status"] == 500


async def test_lines_wait_for_their_batch_then_are_written_by_the_thread() -> None:
    stream = Collected()
    access_log = AccessLog(stream, interval=0.05)
    app = app_logging_to(access_log)

    for _ in range(3):
        await get(app, "/hello")
    assert stream.getvalue() == ""  # batched: nothing written on the event loop

    written = await asyncio.to_thread(stream.wrote.wait, 10.0)  # bounded; the batch is due
    assert written
    access_log.close()
    assert len(stream.lines()) == 3


async def test_a_full_batch_goes_before_its_time() -> None:
    stream = Collected()
    access_log = AccessLog(stream, interval=3600.0, batch=2)
    app = app_logging_to(access_log)
    await get(app, "/hello")
    await get(app, "/hello")
    assert await asyncio.to_thread(stream.wrote.wait, 10.0)
    access_log.close()
    assert len(stream.lines()) == 2


class Stalled(Collected):
    """An output whose reader stopped reading: every write blocks until ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        self.release.wait(30.0)
        return super().write(text)


async def test_a_stalled_output_drops_lines_and_counts_them_but_never_blocks_a_request() -> None:
    stream = Stalled()
    access_log = AccessLog(stream, interval=3600.0, batch=1, backlog=2)
    app = app_logging_to(access_log)

    answers = [await get(app, "/hello") for _ in range(10)]  # answered though nothing is written

    assert all(a.status_code == 200 for a in answers)
    assert await asyncio.to_thread(stream.entered.wait, 10.0)  # the writer is stuck
    stream.release.set()
    await get(app, "/hello")  # the output moves again
    access_log.close()
    events = stream.lines()
    notices = [e for e in events if e.get("event") == "access_log.dropped"]
    requests = [e for e in events if "status" in e]
    dropped = sum(n["lines"] for n in notices)
    # At most one batch being written and two waiting got through; the rest were counted.
    assert dropped >= 10 - 1 - 2
    assert len(requests) + dropped == 11
    assert access_log.dropped == 0  # every drop was told


def test_pieces_are_whole_lines_within_the_pipe_limit() -> None:
    lines = [b"a" * 1000, b"b" * 3000, b"c" * 5000, b"d" * 10, b"e" * 4095]
    data = b"".join(line + b"\n" for line in lines)
    pieces = [bytes(p) for p in line_pieces(data)]
    assert b"".join(pieces) == data
    for piece in pieces:
        assert piece.endswith(b"\n")
        # Over the limit only when the piece is one line that alone is longer.
        assert len(piece) <= 4096 or piece.count(b"\n") == 1


def test_written_to_a_real_pipe_every_line_arrives_whole() -> None:
    read_end, write_end = os.pipe()
    data = b"".join(
        json.dumps({"n": n, "pad": "x" * (n * 37 % 900)}).encode() + b"\n" for n in range(300)
    )
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        write_lines_atomically(write_end, data)
    finally:
        os.close(write_end)
        reader.join(10.0)
        os.close(read_end)
    assert bytes(received) == data
    assert [json.loads(line)["n"] for line in received.splitlines()] == list(range(300))
