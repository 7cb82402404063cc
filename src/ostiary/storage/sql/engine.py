"""Engines for SQLite and PostgreSQL (asyncpg), and the transactions stores run in.

SQLite allows one writer at a time. A transaction that reads and then writes can fail at once
with "database is locked" (its snapshot is stale, so waiting cannot help), so every write
transaction starts with ``BEGIN IMMEDIATE``, which takes the write lock first and waits up to
``busy_timeout`` for it. Within one process, writers also queue for one writer thread rather
than poll the file lock.

The stores run on a :class:`Database` (:func:`open_database`). :func:`open_engine` gives a plain
async engine (aiosqlite or asyncpg) for migrations and administrative work.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlalchemy.util import greenlet_spawn

from ostiary.errors import ConfigurationError
from ostiary.storage.protocols import Conflict, StorageError

DEFAULT_URL = "sqlite+aiosqlite:///./ostiary.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
#: PostgreSQL connections each process keeps, and never more: a transaction that finds them
#: all busy waits for one (up to 30 s, then StorageError). SQLAlchemy's default, 5 kept and 10
#: more opened on demand and closed on return, reconnected most of the time under load (a
#: TLS attempt, authentication and setup for a transaction of a millisecond), and every new
#: connection prepares its statements again. One process does its work on one CPU: more
#: connections than its transactions in flight at once would only queue in PostgreSQL.
#: ``ostiary serve --workers N`` opens N times this, plus one LISTEN connection each.
POSTGRES_POOL_SIZE = 16

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
# An execution option on the engine that write transactions use: SQLite then begins IMMEDIATE.
_WRITE_OPTION = "ostiary_write"
# An execution option on write transactions whose loss to a power failure costs only a client a
# new login: SQLite then commits them with synchronous=NORMAL (no fsync of the WAL).
_RELAXED_OPTION = "ostiary_relaxed"
# Where a SQLite connection's record keeps its current PRAGMA synchronous.
_SYNCHRONOUS = "ostiary_synchronous"


def normalize_url(url: str) -> str:
    """The URL with its async driver: ``sqlite://`` → aiosqlite, ``postgresql://`` → asyncpg."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The message would echo the URL, password included: say nothing of it.
        raise ConfigurationError("The database URL cannot be parsed.") from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigurationError(
            "The database URL must be sqlite:// or postgresql://.",
            detail=f"unsupported database driver {parsed.drivername!r}",
        )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def open_engine(url: str = DEFAULT_URL, *, pool_size: int = POSTGRES_POOL_SIZE) -> AsyncEngine:
    """An async engine for ``url``; for SQLite with WAL, foreign keys and a busy timeout; for
    PostgreSQL a pool of ``pool_size`` connections kept open, none beyond (a transaction
    waits for one)."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        # Rolling back on return only when a transaction is open: see _configure_sqlite().
        engine = _create_async_engine(url, hide_parameters=True, pool_reset_on_return=None)
        _configure_sqlite(engine.sync_engine)
        return engine
    return _create_async_engine(url, hide_parameters=True, pool_size=pool_size, max_overflow=0)


def _configure_sqlite(engine: Engine) -> None:
    if sqlite3.sqlite_version_info < (3, 35):  # RETURNING, used by rotate() and acquire()
        raise ConfigurationError(
            "SQLite 3.35 or later is needed.", detail=f"found SQLite {sqlite3.sqlite_version}"
        )

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # Take BEGIN away from the driver: SQLAlchemy's "begin" event below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()
        record.info[_SYNCHRONOUS] = "FULL"

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if not options.get(_WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN")
            return
        # FULL fsyncs the WAL at every commit; NORMAL leaves that to the next FULL commit or
        # checkpoint. Either way the database stays consistent: NORMAL risks only the last
        # commits, to a power failure or OS crash (a crash of this process loses nothing).
        # One FULL commit makes every earlier commit durable too (the WAL is appended to).
        level = "NORMAL" if options.get(_RELAXED_OPTION, False) else "FULL"
        if connection.info.get(_SYNCHRONOUS) != level:
            connection.exec_driver_sql(f"PRAGMA synchronous = {level}")
            connection.info[_SYNCHRONOUS] = level
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "reset")
    def on_reset(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
        # What SQLAlchemy's default reset-on-return does (roll back, unless the Connection did
        # already or the connection is being discarded), skipping the driver round trip when
        # SQLite says no transaction is open: a rollback would then change nothing.
        if state.asyncio_safe and not state.transaction_was_reset and _in_transaction(record):
            dbapi_connection.rollback()


def _in_transaction(record: Any) -> bool:
    try:
        return bool(record.driver_connection.in_transaction)
    except (AttributeError, ValueError, sqlite3.Error):  # closed: let rollback() decide
        return True


def for_writing(engine: AsyncEngine) -> AsyncEngine:
    """A view of ``engine`` (same pool) whose transactions begin as writers."""
    return engine.execution_options(**{_WRITE_OPTION: True})


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Driver and connection errors become :class:`Conflict` or :class:`StorageError`.

    Only the first line of the driver's message is kept, and the driver's exception is not
    chained: PostgreSQL's DETAIL line quotes the conflicting values.
    """
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(_first_line(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(_first_line(exc)) from None


def _first_line(exc: Exception) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"[:300]


T = TypeVar("T")
#: A transaction's work: synchronous SQLAlchemy Core on the transaction's connection.
Work = Callable[[Connection], T]

#: Threads that run SQLite read transactions (WAL lets readers run beside the one writer).
SQLITE_READER_THREADS = 2


class Database:
    """An engine and the two kinds of transaction the stores run their work in.

    A store hands over its whole transaction as one synchronous function of a
    :class:`~sqlalchemy.engine.Connection` (SQLAlchemy Core statements, no ORM session): the
    transaction commits when the function returns and rolls back if it raises. How the work is
    run is the backend's business (:class:`SQLiteDatabase`, :class:`PostgresDatabase`).
    """

    dialect: str

    async def read(self, work: Work[T]) -> T:
        """Run ``work`` in a read transaction (one snapshot)."""
        raise NotImplementedError

    async def write(self, work: Work[T], *, relaxed: bool = False) -> T:
        """Run ``work`` in a write transaction, committed on return, rolled back on raise.

        ``relaxed``: the commit may be lost to a power failure or an OS crash (never half
        applied, never lost to a crash of this process), in exchange for not waiting for the
        disk. Only for writes whose loss costs a client no more than a new login (a refresh
        rotation, a login); never for a revocation, a user or a key."""
        raise NotImplementedError

    async def dispose(self) -> None:
        raise NotImplementedError


class SQLiteDatabase(Database):
    """SQLite through the standard library's driver, each transaction run whole on a thread.

    sqlite3 calls block, so something must run them off the event loop; aiosqlite does it one
    call at a time, a round trip through its thread for every execute, fetch, BEGIN and
    COMMIT (about two dozen for a refresh). Here a transaction is one round trip: the store's
    work runs start to end on a worker thread. Writes go to a single writer thread, which
    also serializes this process's writers (``BEGIN IMMEDIATE`` and ``busy_timeout`` take care
    of other processes); reads run on their own threads beside it, as WAL allows.
    """

    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        sync_url = make_url(normalize_url(url)).set(drivername="sqlite+pysqlite")
        # Rolling back on return only when a transaction is open: see _configure_sqlite().
        self.engine = create_engine(sync_url, hide_parameters=True, pool_reset_on_return=None)
        _configure_sqlite(self.engine)
        self._writer_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._relaxed_writer_engine = self._writer_engine.execution_options(
            **{_RELAXED_OPTION: True}
        )
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ostiary-sqlite-writer")
        self._readers = ThreadPoolExecutor(
            SQLITE_READER_THREADS, thread_name_prefix="ostiary-sqlite-reader"
        )

    async def read(self, work: Work[T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, _transaction, self.engine, work)

    async def write(self, work: Work[T], *, relaxed: bool = False) -> T:
        engine = self._relaxed_writer_engine if relaxed else self._writer_engine
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, _transaction, engine, work)

    async def dispose(self) -> None:
        def close() -> None:
            self._writer.shutdown(wait=True)
            self._readers.shutdown(wait=True)
            self.engine.dispose()

        await asyncio.to_thread(close)


def _transaction(engine: Engine, work: Work[T]) -> T:
    with translated_errors(), engine.begin() as conn:
        return work(conn)


class PostgresDatabase(Database):
    """PostgreSQL through asyncpg: the work runs on the event loop (SQLAlchemy's greenlet
    bridge turns each statement into an await on the socket), so no thread is involved.

    A whole transaction (checkout, BEGIN, the work, COMMIT, checkin) runs in one greenlet on
    the engine's synchronous face, as a SQLite transaction runs whole on its thread:
    ``AsyncEngine.begin()`` and ``run_sync()`` would spawn one greenlet per step and wrap
    each, which cost a third of the CPU a one-statement transaction takes in this process.
    """

    dialect = "postgresql"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync_engine = engine.sync_engine

    async def read(self, work: Work[T]) -> T:
        return await greenlet_spawn(_transaction, self._sync_engine, work)

    async def write(self, work: Work[T], *, relaxed: bool = False) -> T:
        # Relaxed would be SET LOCAL synchronous_commit = off: one more round trip, to save
        # a wait that costs this process no CPU. Every commit waits for the disk.
        return await self.read(work)

    async def dispose(self) -> None:
        await self.engine.dispose()


def open_database(url: str = DEFAULT_URL, *, pool_size: int = POSTGRES_POOL_SIZE) -> Database:
    """The :class:`Database` for ``url``; nothing connects until the first transaction.
    ``pool_size``: PostgreSQL connections kept open (SQLite has its own one writer)."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return SQLiteDatabase(url)
    return PostgresDatabase(open_engine(url, pool_size=pool_size))
