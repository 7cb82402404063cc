"""Three ``ostiary serve --demo`` instances on one database and one Redis, behind a real
HAProxy (round-robin, health checks on ``/readyz``).

Every instance has the same issuer (the proxy's URL), the same master key
(``OSTIARY_MASTER_KEY``: the signing keys, the refresh grace window's HMAC and the rate-limit
keys all derive from it) and the same demo passwords. They start one after the other: the
first makes the signing keys and seeds the demo users, the others find them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from ostiary.keys.encryption import MasterKey

from .._haproxy import HAProxy, haproxy
from .._haproxy import free_port as proxy_port
from ..http._live import (
    REQUEST_TIMEOUT,
    LiveServer,
    clean_environment,
    demo_password,
    free_port,
    live_server,
    server_command,
)

INSTANCES: Final = 3
CLI_TIMEOUT: Final = 60.0
#: The load of these tests comes from one address; the per-address limits would be the test.
#: The per-account login limit (10/minute) stays as it is: one test checks it is shared.
CLUSTER_ENV: Final = {
    "OSTIARY_LOGIN_ADDRESS_RATE_LIMIT": "100000/minute",
    "OSTIARY_REGISTER_RATE_LIMIT": "100000/minute",
    "OSTIARY_REFRESH_ADDRESS_RATE_LIMIT": "100000/minute",
}
PASSWORD_LENGTH: Final = 16


class Cluster:
    """The instances (``None`` while one is down), the proxy, and what they share."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str,
        redis_url: str,
        env: Mapping[str, str],
    ) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.redis_url = redis_url
        self.master_key = MasterKey.new_text()
        self.passwords = (demo_password("alice"), demo_password("admin"))
        self.proxy_port = proxy_port()
        self.ports = [free_port() for _ in range(INSTANCES)]
        self.env = {
            **CLUSTER_ENV,
            "OSTIARY_ISSUER": self.issuer,
            "OSTIARY_MASTER_KEY": self.master_key,
            "OSTIARY_REDIS_URL": redis_url,
            **env,
        }
        self.instances: list[LiveServer | None] = [None] * INSTANCES
        self._stacks = [contextlib.ExitStack() for _ in range(INSTANCES)]
        self._starts = [0] * INSTANCES
        self.proxy: HAProxy | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def alice_password(self) -> str:
        return self.passwords[0]

    def instance(self, index: int) -> LiveServer:
        server = self.instances[index]
        assert server is not None, f"instance {index} is down"
        return server

    def live(self) -> list[LiveServer]:
        """The instances running now."""
        return [s for s in self.instances if s is not None and s.process.poll() is None]

    def urls(self) -> list[str]:
        return [s.base_url for s in self.live()]

    def start(self, index: int) -> LiveServer:
        """Start instance ``index`` on its port (again, after a stop or a kill)."""
        assert self.instances[index] is None
        self._starts[index] += 1
        stack = self._stacks[index]
        server = stack.enter_context(
            live_server(
                self.workdir / f"instance-{index}-{self._starts[index]}",
                database_url=self.database_url,
                env=self.env,
                port=self.ports[index],
                passwords=self.passwords,
            )
        )
        self.instances[index] = server
        return server

    def stop(self, index: int) -> None:
        """SIGTERM (SIGKILL if it does not end in time), its logs kept on disk."""
        self._stacks[index].close()
        self.instances[index] = None

    def signal(self, index: int, signum: signal.Signals) -> LiveServer:
        """Send ``signum`` to instance ``index``; it stays listed until :meth:`forget`."""
        server = self.instance(index)
        server.process.send_signal(signum)
        return server

    def forget(self, index: int) -> None:
        """An instance that ended (killed, or stopped by a signal): close its files."""
        server = self.instance(index)
        server.process.wait(timeout=REQUEST_TIMEOUT)
        self.stop(index)

    def all_logs(self) -> dict[str, str]:
        """Every log each instance ever wrote (all its runs), by file."""
        return {
            str(path.relative_to(self.workdir)): path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(self.workdir.glob("instance-*/*.log"))
        }

    def close(self) -> None:
        for index in range(INSTANCES):
            self._stacks[index].close()
            self.instances[index] = None

    # --- clients -----------------------------------------------------------------------------

    def proxy_client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.issuer, timeout=REQUEST_TIMEOUT, **kwargs)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``ostiary <args>`` against the cluster's database with its master key."""
        environment = {
            **clean_environment(),
            "OSTIARY_DATABASE_URL": self.database_url,
            "OSTIARY_MASTER_KEY": self.master_key,
            "OSTIARY_ISSUER": self.issuer,
        }
        return subprocess.run(
            [*server_command(verbose=False), *args],
            cwd=self.workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )


@contextlib.contextmanager
def running_cluster(
    workdir: Path,
    *,
    database_url: str,
    redis_url: str,
    env: Mapping[str, str] | None = None,
) -> Iterator[Cluster]:
    """Three instances and HAProxy in front, all answering when entered, stopped when left."""
    cluster = Cluster(workdir, database_url=database_url, redis_url=redis_url, env=env or {})
    try:
        for index in range(INSTANCES):
            cluster.start(index)
        with haproxy(workdir / "haproxy", cluster.ports, port=cluster.proxy_port) as proxy:
            cluster.proxy = proxy
            yield cluster
    finally:
        cluster.close()


def user_password() -> str:
    return demo_password("pw")[:PASSWORD_LENGTH] + "-long"


@dataclass(frozen=True)
class Polled:
    """What polling found: ``ok`` at ``elapsed`` seconds after it began, or not in time."""

    ok: bool
    elapsed: float


async def poll(check: Any, *, bound: float, interval: float = 0.05) -> Polled:
    """Call the async ``check()`` until it returns true or ``bound`` seconds have passed."""
    import asyncio

    start = time.monotonic()
    while True:
        if await check():
            return Polled(True, time.monotonic() - start)
        if time.monotonic() - start >= bound:
            return Polled(False, time.monotonic() - start)
        await asyncio.sleep(interval)


def figures_path() -> Path:
    """Where the measured figures are written as well as printed (one JSON line per test)."""
    return Path(os.environ.get("OSTIARY_CLUSTER_FIGURES", "/tmp/ostiary-cluster-figures.jsonl"))
