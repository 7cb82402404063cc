"""The header limits through the real server (``ostiary serve --demo``: uvicorn with
httptools): too many or too large headers get the app's 431, not the parser's bare 400 or a
connection reset, up to the size where a parser would give up."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from ._live import LiveServer, live_server

pytestmark = pytest.mark.slow

HEADERS_DESCRIPTION: Final = "The request headers are too large or too many."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir: Path = tmp_path_factory.mktemp("live-limits")
    with live_server(workdir) as running:
        yield running


@pytest.mark.parametrize("size", [17_000, 60_000])
def test_a_large_header_is_431(server: LiveServer, size: int) -> None:
    with server.client() as client:
        response = client.get("/healthz", headers={"X-Padding": "a" * size})
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == HEADERS_DESCRIPTION


def test_many_headers_are_431_on_a_token_endpoint(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post("/auth/login", headers=[(f"x-h{i}", "1") for i in range(150)])
    assert (response.status_code, response.json()) == (
        431,
        {"error": "invalid_request", "error_description": HEADERS_DESCRIPTION},
    )


def test_the_connection_is_answered_not_reset(server: LiveServer) -> None:
    """Raw bytes, so that no client library hides a reset."""
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 200) for i in range(120))
        + b"\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_headers_within_the_limits_pass(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get("/healthz", headers={"X-Padding": "a" * 8000})
    assert response.status_code == 200
