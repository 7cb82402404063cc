"""Throwaway PostgreSQL databases for the tests, on the server of ``OSTIARY_TEST_POSTGRES_URL``
(default: the local ``test`` database). Each run or test gets a database of its own, so runs
never collide; it is dropped when left. The fault tests get a whole server of their own
(:func:`own_postgres`), which they restart at will."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ostiary.storage import StorageError
from ostiary.storage.sql import normalize_url
from ostiary.storage.sql.engine import translated_errors

POSTGRES_ADMIN_URL: Final = os.environ.get(
    "OSTIARY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

T = TypeVar("T")


class PostgresUnavailable(Exception):
    """The PostgreSQL server cannot be reached or refuses to create a database."""


def in_thread(work: Callable[[], T]) -> T:
    """Run blocking set-up (which may call ``asyncio.run``) away from any running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


async def admin(statement: str) -> None:
    """Run one statement (``CREATE DATABASE``...) on the admin database, outside a transaction."""
    engine = create_async_engine(
        normalize_url(POSTGRES_ADMIN_URL),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"timeout": 5},
    )
    try:
        with translated_errors():
            async with engine.connect() as conn:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def run_admin(statement: str) -> None:
    in_thread(lambda: asyncio.run(admin(statement)))


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh, empty database as a ``postgresql+asyncpg://`` URL, dropped when left.

    Raises :class:`PostgresUnavailable` when the server cannot be used.
    """
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        run_admin(f'CREATE DATABASE "{name}"')
    except StorageError as exc:
        where = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        raise PostgresUnavailable(f"PostgreSQL at {where} is not usable: {exc}") from exc
    try:
        url = make_url(normalize_url(POSTGRES_ADMIN_URL)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- a PostgreSQL server of a test's own ---------------------------------------------------

PG_BIN: Final = Path(os.environ.get("OSTIARY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_TIMEOUT: Final = 30.0
PG_USER: Final = "postgres"
OWN_DATABASE: Final = "ostiary"


class OwnPostgres:
    """A PostgreSQL cluster in ``workdir/data`` on 127.0.0.1:``port``, trust authentication,
    one database (``ostiary``), for the fault tests: they stop, start and restart it at will
    and never touch the shared server. ``initdb`` and ``pg_ctl`` run as the ``postgres`` user
    when this process is root (PostgreSQL refuses root), as this user otherwise."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.data = workdir / "data"
        self.log = workdir / "postgres.log"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresUnavailable("running as root without runuser to drop to postgres")
            self._as_postgres = [runuser, "-u", PG_USER, "--"]
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                raise PostgresUnavailable(f"{PG_BIN / tool} is not installed")

    @property
    def url(self) -> str:
        """The database as a ``postgresql+asyncpg://`` URL."""
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/{OWN_DATABASE}"

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [*self._as_postgres, *command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PG_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{Path(command[0]).name} failed ({done.returncode}): "
                f"{done.stdout[-1000:]}{done.stderr[-1000:]}{tail}"
            )

    def init(self) -> None:
        """``initdb`` (trust, no fsync: a throwaway), then start and create the database."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.workdir, user=PG_USER, group=PG_USER)
        self._run(
            str(PG_BIN / "initdb"),
            *("-D", str(self.data), "-U", PG_USER, "--auth=trust", "--no-sync"),
            *("-E", "UTF8", "--locale=C"),
        )
        self.start()
        self._run(
            str(PG_BIN / "psql"),
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", "postgres"),
            *("-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{OWN_DATABASE}"'),
        )

    def start(self) -> None:
        """``pg_ctl start``, waiting until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c fsync=off "
            f"-c unix_socket_directories='{self.workdir}' -c max_connections=100"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.log), "-o", options),
            *("-w", "-t", str(int(PG_TIMEOUT)), "start"),
        )

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (ends the sessions, as a restart by an operator does)."""
        self._run(
            str(PG_BIN / "pg_ctl"),
            *("-D", str(self.data), "-m", mode, "-w", "-t", str(int(PG_TIMEOUT)), "stop"),
        )

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def own_postgres(workdir: Path) -> Iterator[OwnPostgres]:
    """A started :class:`OwnPostgres` on a free port with its database made; stopped (``-m
    immediate``) and its directory removed when left. Raises :class:`PostgresUnavailable`
    without the binaries or when it does not start."""
    # As root, the cluster cannot live under pytest's directories (mode 0700, root's): it
    # gets a directory of its own in the system's temporary directory, owned by postgres.
    home = Path(tempfile.mkdtemp(prefix="ostiary-pg-")) if os.geteuid() == 0 else workdir
    try:
        server = OwnPostgres(home, _free_port())
        try:
            server.init()
            yield server
        finally:
            if server.running():
                with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                    server.stop("immediate")
    finally:
        shutil.rmtree(home / "data" if home == workdir else home, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
