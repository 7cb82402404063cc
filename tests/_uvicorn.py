"""An ASGI app under a real uvicorn, in a thread, on 127.0.0.1: for the browser tests and the
resource middleware's tests through a real server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT: Final = 10.0


def loopback_socket() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1, for :func:`serve`: bound before the app
    exists when the app must know its own URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def base_url(sock: socket.socket) -> str:
    port: int = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def serve(
    app: ASGIApp,
    *,
    sock: socket.socket | None = None,
    ws: str = "none",
    lifespan: Literal["on", "off"] = "off",
) -> Iterator[str]:
    """Run ``app`` on ``sock`` (a free port of 127.0.0.1 by default) and yield its base URL;
    stop it and close the socket on exit; ``lifespan="on"`` runs the app's lifespan in
    uvicorn's thread. The socket is bound before uvicorn starts, so no
    other process can take the port between look and bind."""
    sock = sock if sock is not None else loopback_socket()
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        ws=ws,
        lifespan=lifespan,
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
