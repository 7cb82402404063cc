"""A real HTTP server on 127.0.0.1 that serves a JWKS, and misbehaves when told to.

The test changes ``mode`` (and the document, ``cache_control``...) while the server runs and
counts the requests it answered on the server side. Every handler thread is joined when the
server stops; a handler that is made to wait does so on an event that stopping sets.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal[
    "ok",  # 200 with the document and the Cache-Control set
    "slow",  # waits ``delay`` seconds before answering
    "trickle",  # sends headers, then the body one byte every ``delay`` seconds
    "error",  # 500
    "close",  # closes the connection without answering
    "oversized",  # a body of ``oversize`` bytes with a Content-Length
    "oversized_unframed",  # the same body without Content-Length, ended by closing
    "raw",  # 200 with ``raw_body`` as it is (with a Content-Length if ``raw_framed``)
]


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so that server_close() joins every handler thread
    block_on_close = True
    owner: JWKSServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean

    def do_GET(self) -> None:
        owner = self.server.owner
        mode = owner.record(self)
        try:
            self._answer(owner, mode)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass  # the client gave up (a timeout under test): nothing to answer to

    def _answer(self, owner: JWKSServer, mode: Mode) -> None:
        if mode == "close":
            self.close_connection = True
            return
        if mode == "slow" and owner.stopping.wait(owner.delay):
            return
        if mode == "error":
            self._send(500, b'{"error":"boom"}')
            return
        if mode in ("oversized", "oversized_unframed"):
            body = b'{"keys":[' + b" " * owner.oversize + b"]}"
            self._send(200, body, content_length=mode == "oversized")
            return
        if mode == "trickle":
            body = json.dumps(owner.document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                if owner.stopping.wait(owner.delay):
                    return
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
            return
        if mode == "raw":
            self._send(200, owner.raw_body, content_length=owner.raw_framed)
            return
        self._send(200, json.dumps(owner.document).encode())

    def _send(self, status: int, body: bytes, *, content_length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/jwk-set+json")
        cache_control = self.server.owner.cache_control
        if cache_control is not None:
            self.send_header("Cache-Control", cache_control)
        if content_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class JWKSServer:
    """A JWKS endpoint at ``url``; ``requests`` counts the GETs it received."""

    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self.document: dict[str, Any] = {"keys": []}
        self.cache_control: str | None = None
        self.raw_body = b""
        self.raw_framed = True
        self.delay = 0.0
        self.oversize = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests = 0
        self.accept_headers: list[str] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/.well-known/jwks.json"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._running = False

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    def record(self, handler: BaseHTTPRequestHandler) -> Mode:
        with self._lock:
            self._requests += 1
            self.accept_headers.append(handler.headers.get("Accept", ""))
            return self.mode

    def start(self) -> None:
        self._thread.start()
        self._running = True

    def stop(self) -> None:
        """Stop serving and close the port (a later connection is refused); idempotent."""
        if not self._running:
            return
        self._running = False
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()


@contextmanager
def running_jwks_server() -> Iterator[JWKSServer]:
    server = JWKSServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 with nobody listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
