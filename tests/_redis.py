"""A throwaway ``redis-server`` of a test's own, on a free port in a temporary directory, for
the fault tests: they stop, start, freeze and thaw it at will, and never touch the shared Redis
at 6379. Every start and stop is bounded; the server is killed when the test leaves."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

STARTUP_TIMEOUT: Final = 10.0
SHUTDOWN_TIMEOUT: Final = 10.0


class RedisUnavailable(Exception):
    """No ``redis-server`` binary, or it did not start."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnRedis:
    """A ``redis-server`` bound to 127.0.0.1:``port``, without persistence."""

    def __init__(self, workdir: Path, port: int) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable("redis-server is not installed")
        self._binary = binary
        self._workdir = workdir
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        log = (self._workdir / "redis.log").open("ab")
        with log:
            self._process = subprocess.Popen(
                [
                    self._binary,
                    *("--bind", "127.0.0.1", "--port", str(self.port)),
                    *("--save", "", "--appendonly", "no", "--dir", str(self._workdir)),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisUnavailable(f"redis-server exited with {self._process.returncode}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer in {STARTUP_TIMEOUT} s")

    def stop(self) -> None:
        """SIGKILL: an outage, not a shutdown."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=SHUTDOWN_TIMEOUT)
        self._process = None

    def freeze(self) -> None:
        """SIGSTOP: Redis keeps its connections open and answers nothing (a hung server, a
        VM paused), the fault no refused connection reveals."""
        assert self._process is not None and self._process.poll() is None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: it answers again, on the same connections."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def key_count(self) -> int:
        """``DBSIZE`` of database 0."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as sock:
            sock.sendall(b"DBSIZE\r\n")
            answer = sock.recv(64)
        assert answer.startswith(b":"), answer
        return int(answer[1:].strip())


@contextlib.contextmanager
def own_redis(workdir: Path) -> Iterator[OwnRedis]:
    """A started :class:`OwnRedis` on a free port, killed when left."""
    server = OwnRedis(workdir, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
