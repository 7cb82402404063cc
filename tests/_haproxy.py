"""A real HAProxy in front of several servers, for the cluster tests: its configuration written
to a temporary directory, ``haproxy -f <cfg> -db`` as a subprocess on a free 127.0.0.1 port,
round-robin, health checks on ``/readyz`` every few hundred milliseconds, stopped when left.

Its own 503 (no server up) carries a ``Retry-After``, as the servers' do: a client behind the
proxy sees the same answer whichever of the two says "not now".
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

STARTUP_TIMEOUT: Final = 10.0
SHUTDOWN_TIMEOUT: Final = 10.0
#: How often each server's ``/readyz`` is asked; two failures take it out, one success back.
CHECK_INTERVAL_MS: Final = 300
UNAVAILABLE_BODY: Final = (
    '{"error":"temporarily_unavailable",'
    '"error_description":"No server can answer now; retry later."}'
)


class HAProxyUnavailable(Exception):
    """No ``haproxy`` binary, or it did not start."""


def haproxy_binary() -> str:
    binary = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if binary is None:
        raise HAProxyUnavailable("haproxy is not installed (Debian: apt-get install haproxy)")
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def config(port: int, backends: Sequence[int]) -> str:
    """Round-robin over ``backends`` (ports on 127.0.0.1). A request whose connection fails
    (a server killed or stopping) goes to another server (``retries``, ``redispatch``); one
    that got no answer at all is retried too, which a refresh can afford: a retry within the
    grace window gets the same successor."""
    unavailable = f"string '{UNAVAILABLE_BODY}'"
    servers = "\n".join(
        f"    server i{index} 127.0.0.1:{backend} check" for index, backend in enumerate(backends)
    )
    return f"""\
global
    maxconn 2000

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    # Above the revocation stream's 15 s heartbeat, so an idle stream is never cut.
    timeout server 60s
    timeout check 1s
    timeout http-request 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    # Each event of the revocation stream is forwarded at once, not held for more.
    option http-no-delay

frontend ostiary
    bind 127.0.0.1:{port}
    default_backend instances
    http-error status 503 content-type application/json hdr Retry-After 5 {unavailable}

backend instances
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {CHECK_INTERVAL_MS} fall 2 rise 1
{servers}
"""


@dataclass(frozen=True)
class HAProxy:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return (self.workdir / "haproxy.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=SHUTDOWN_TIMEOUT)


@contextlib.contextmanager
def haproxy(
    workdir: Path, backends: Sequence[int], *, port: int | None = None
) -> Iterator[HAProxy]:
    """HAProxy over ``backends``, answering (``/readyz`` through it) when entered."""
    binary = haproxy_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    port = port if port is not None else free_port()
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(config(port, backends), encoding="utf-8")
    with (workdir / "haproxy.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "-f", str(cfg), "-db"],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        proxy = HAProxy(process, port, workdir)
        try:
            _wait_until_ready(proxy)
            yield proxy
        finally:
            proxy.stop()


def _wait_until_ready(proxy: HAProxy) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=proxy.base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proxy.process.poll() is not None:
                raise HAProxyUnavailable(
                    f"haproxy exited with {proxy.process.returncode}:\n{proxy.logs()[-2000:]}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get("/readyz").status_code == 200:
                    return
            time.sleep(0.05)
    raise HAProxyUnavailable(f"haproxy answered no /readyz in {STARTUP_TIMEOUT} s")
