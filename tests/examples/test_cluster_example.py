"""End to end: ``examples/cluster/run.py`` starts three ``ostiary serve`` instances on
PostgreSQL and Redis behind HAProxy, and a resource service following the revocation stream.

``--check`` runs the walkthrough itself and must see a logout through the proxy refused by
every instance and by the service; without it, the printed curl walkthrough runs as printed,
and Ctrl-C stops every process and drops the database.

Each run gets free ports, a database name of its own on the shared PostgreSQL (dropped at the
end whatever happened) and a ``redis-server`` of the module's own (the shared Redis at 6379 is
never touched). Without haproxy, PostgreSQL or redis-server the tests skip, and so fail under
CI. Everything is bounded, and whatever is left of a run's process group is killed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ostiary.storage import StorageError
from ostiary.storage.sql import normalize_url

from .._postgres import POSTGRES_ADMIN_URL, in_thread, run_admin
from .._redis import OwnRedis, RedisUnavailable, own_redis
from ..http._live import clean_environment, printed_walkthrough, run_bash
from ..http._server import FAST_ARGON2

pytestmark = pytest.mark.slow

RUN: Final = Path(__file__).parents[2] / "examples" / "cluster" / "run.py"
READY: Final = "Ready. Press Ctrl-C to stop."
#: Start-up (migration, three instances, the proxy, the service) plus the check.
RUN_TIMEOUT: Final = 180.0
STOP_TIMEOUT: Final = 60.0
BASH_TIMEOUT: Final = 60.0
PORT_ATTEMPTS: Final = 3
TARGETS: Final = ("instance-1", "instance-2", "instance-3", "service")


@dataclass(frozen=True)
class Infrastructure:
    """What every run shares: the PostgreSQL admin URL and the module's own Redis."""

    postgres_url: str
    redis: OwnRedis


@pytest.fixture(scope="module")
def infrastructure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infrastructure]:
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.skip("haproxy is not installed (Debian: apt-get install haproxy)")
    try:
        run_admin("SELECT 1")
    except StorageError as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not usable: {exc}")
    try:
        with own_redis(tmp_path_factory.mktemp("redis")) as redis:
            yield Infrastructure(POSTGRES_ADMIN_URL, redis)
    except RedisUnavailable as exc:
        pytest.skip(str(exc))


def free_ports(count: int) -> tuple[int, ...]:
    """Distinct free ports: every socket stays bound until all are chosen."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return tuple(int(sock.getsockname()[1]) for sock in sockets)


async def _database_exists(name: str) -> bool:
    engine = create_async_engine(normalize_url(POSTGRES_ADMIN_URL), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            query = text("SELECT 1 FROM pg_database WHERE datname = :name")
            return (await conn.execute(query, {"name": name})).first() is not None
    finally:
        await engine.dispose()


def database_exists(name: str) -> bool:
    return in_thread(lambda: asyncio.run(_database_exists(name)))


@dataclass(frozen=True)
class Run:
    """One ``run.py``, its output in a file."""

    process: subprocess.Popen[bytes]
    ports: tuple[int, ...]
    database: str
    output: Path

    def stdout(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def port_taken(self) -> bool:
        """Another process bound one of the free ports before the run did."""
        return self.process.poll() not in (None, 0) and "address already in use" in self.stdout()

    def wait(self, timeout: float) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout=timeout)
        return None

    def kill(self) -> None:
        """Whatever is left of the run's process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)


def launch(workdir: Path, infrastructure: Infrastructure, *options: str) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    ports = free_ports(5)
    database = f"ostiary_cluster_example_{secrets.token_hex(6)}"
    environment = {
        **clean_environment(),
        "PYTHONUNBUFFERED": "1",
        **{f"OSTIARY_{name.upper()}": str(value) for name, value in FAST_ARGON2.items()},
    }
    command = [
        *(sys.executable, str(RUN), "--postgres-url", infrastructure.postgres_url),
        *("--database", database, "--redis-url", infrastructure.redis.url),
        *("--proxy-port", str(ports[0]), "--service-port", str(ports[1])),
        *("--instance-ports", ",".join(map(str, ports[2:])), *options),
    ]
    output = workdir / "run.log"
    with output.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole at the end
        )
    return Run(process, ports, database, output)


@contextlib.contextmanager
def cluster_run(
    workdir: Path, infrastructure: Infrastructure, *options: str, until: str
) -> Iterator[Run]:
    """``run.py`` with ``options``, once its output holds ``until`` or it exited (again on
    other ports if one was taken meanwhile); its process group killed and its database
    dropped when left."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        run = launch(workdir / f"attempt-{attempt}", infrastructure, *options)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while until not in run.stdout() and run.process.poll() is None:
                assert time.monotonic() < deadline, f"run.py took too long:\n{run.stdout()}"
                time.sleep(0.1)
            if run.port_taken() and attempt < PORT_ATTEMPTS:
                continue
            yield run
            return
        finally:
            run.kill()
            run_admin(f'DROP DATABASE IF EXISTS "{run.database}" WITH (FORCE)')


def test_check_sees_a_logout_through_the_proxy_refused_everywhere(
    infrastructure: Infrastructure, tmp_path: Path
) -> None:
    with cluster_run(tmp_path, infrastructure, "--check", until="Stopped every process") as run:
        code = run.wait(STOP_TIMEOUT)
        stdout = run.stdout()
        assert code == 0, stdout
        assert "Check passed" in stdout
        assert "FAIL" not in stdout
        assert re.search(r"ok +log in through the proxy +200 +\(by instance-[123]\)", stdout)
        assert re.search(r"ok +log out through the proxy +204 +\(by instance-[123]\)", stdout)
        for target in TARGETS:
            path = "/orders" if target == "service" else "/auth/me"
            assert re.search(rf"ok +GET {path} at {target} +200", stdout), stdout
            refused = re.search(
                rf"ok +refused by {target} +401 +([0-9.]+) ms after the logout: "
                r"The token has been revoked\.",
                stdout,
            )
            assert refused, stdout
        assert f"dropped the database {run.database}" in stdout
        assert not database_exists(run.database)


def test_the_printed_walkthrough_runs_and_ctrl_c_stops_everything(
    infrastructure: Infrastructure, tmp_path: Path
) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    with cluster_run(tmp_path, infrastructure, until=READY) as run:
        assert READY in run.stdout(), run.stdout()
        walk = run_walkthrough(run, tmp_path)
        assert walk.returncode == 0, walk.stderr
        lines = walk.stdout.splitlines()
        assert len(lines) == 9, walk.stdout
        assert lines[0].startswith('{"user":"usr_') and lines[0].endswith(" 200")
        for index in range(3):
            assert lines[1 + index].endswith(f" instance-{index + 1} 200"), lines
            assert '"username":"alice"' in lines[1 + index]
        assert re.fullmatch(r"204 instance-[123]", lines[4]), lines
        for index in range(3):
            assert lines[5 + index].endswith(f" instance-{index + 1} 401"), lines
            assert "The token has been revoked." in lines[5 + index]
        assert lines[8].endswith(" 401") and "The token has been revoked." in lines[8]

        run.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert run.wait(STOP_TIMEOUT) == 0, run.stdout()
        stdout = run.stdout()
        assert "Stopping." in stdout
        assert f"dropped the database {run.database}" in stdout
        for port in run.ports:
            with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
                sock.connect(("127.0.0.1", port))
        assert not database_exists(run.database)


def wait_for_refusals(run: Run) -> str:
    """Bash that waits (boundedly) until the four answer 401, as a user pasting the rest of
    the walkthrough a moment after the logout: the stream takes some milliseconds."""
    urls = [f"{run.url(port)}/auth/me" for port in run.ports[2:]]
    urls.append(f"{run.url(run.ports[1])}/orders")
    return "".join(
        f"for _ in $(seq 200); do\n"
        f"  code=$(curl -s -o /dev/null -w '%{{http_code}}' {url} "
        '-H "Authorization: Bearer $TOKEN")\n'
        '  [ "$code" = 401 ] && break\n'
        "  sleep 0.05\n"
        "done\n"
        for url in urls
    )


def run_walkthrough(run: Run, workdir: Path) -> subprocess.CompletedProcess[str]:
    """The printed block, run with bash; before its step 5, a wait for the refusals."""
    script = printed_walkthrough(run.stdout())
    before, marker, after = script.partition("# 5.")
    assert marker, script
    path = workdir / "walkthrough.sh"
    path.write_text(before + wait_for_refusals(run) + marker + after, encoding="utf-8")
    return run_bash(
        path,
        workdir,
        clean_environment(),
        flags=["-e"],
        timeout=BASH_TIMEOUT,
        what="the walkthrough",
    )
