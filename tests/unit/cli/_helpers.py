"""Claims, tokens and a tiny JWKS endpoint for the CLI tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ISSUER = "https://auth.example.test"
AUDIENCE = "https://api.example.test"
#: ``make_token(key=None, typ="at+jwt", **claim_overrides)``, the fixture of conftest.py.
MakeToken = Callable[..., str]


def access_claims(**overrides: Any) -> dict[str, Any]:
    """A valid RFC 9068 claims set for ISSUER and AUDIENCE; an override of ``None`` drops it."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now - 5,
        "jti": "jti-1",
        "client_id": "client-1",
        "scope": "read write",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


class _Handler(BaseHTTPRequestHandler):
    """Serves the server's ``document`` at ``/jwks.json`` and 404 elsewhere."""

    server: _Server

    def do_GET(self) -> None:
        if self.path != "/jwks.json":
            self.send_error(404)
            return
        body = json.dumps(self.server.document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/jwk-set+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so that server_close() joins every handler thread
    document: dict[str, Any]


@contextmanager
def jwks_server(document: dict[str, Any]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 in a thread; yields the base URL (no path)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.document = document
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
