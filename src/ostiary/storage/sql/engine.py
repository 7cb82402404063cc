"""Engines for SQLite (aiosqlite) and PostgreSQL (asyncpg), and the transactions stores run in.

SQLite allows one writer at a time. A transaction that reads and then writes can fail at once
with "database is locked" (its snapshot is stale, so waiting cannot help), so every write
transaction starts with ``BEGIN IMMEDIATE``, which takes the write lock first and waits up to
``busy_timeout`` for it. Within one process, writers also queue on an :class:`asyncio.Lock`
rather than poll the file lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import PoolResetState

from ostiary.errors import ConfigurationError
from ostiary.storage.protocols import Conflict, StorageError

DEFAULT_URL = "sqlite+aiosqlite:///./ostiary.db"
SQLITE_BUSY_TIMEOUT_MS = 5000

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
# An execution option on the engine that write transactions use: SQLite then begins IMMEDIATE.
_WRITE_OPTION = "ostiary_write"
# An execution option for transactions of one read statement: SQLite then sends no BEGIN, the
# lone statement being a transaction (and a snapshot) of its own. Saves the driver round trips.
_ONE_READ_OPTION = "ostiary_one_read"


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


def open_engine(url: str = DEFAULT_URL) -> AsyncEngine:
    """An async engine for ``url``; for SQLite with WAL, foreign keys and a busy timeout."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        # Rolling back on return only when a transaction is open: see _configure_sqlite().
        engine = _create_async_engine(url, hide_parameters=True, pool_reset_on_return=None)
        _configure_sqlite(engine)
        return engine
    return _create_async_engine(url, hide_parameters=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    if sqlite3.sqlite_version_info < (3, 35):  # RETURNING, used by rotate() and acquire()
        raise ConfigurationError(
            "SQLite 3.35 or later is needed.", detail=f"found SQLite {sqlite3.sqlite_version}"
        )

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver: SQLAlchemy's "begin" event below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(_WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(_ONE_READ_OPTION, False):
            connection.exec_driver_sql("BEGIN")

    @event.listens_for(engine.sync_engine, "reset")
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


class Database:
    """An engine and the two kinds of transaction the stores open on it.

    Stores run SQLAlchemy Core statements on the transaction's connection (no ORM session:
    the hot paths are one or a few statements, and the unit of work only cost CPU)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._reader = engine.execution_options(**{_ONE_READ_OPTION: True})
        self._writer = for_writing(engine)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A transaction for ONE read statement (on SQLite it sends no BEGIN: the statement is
        its own transaction). Several statements that must see one snapshot need another kind."""
        with translated_errors():
            async with self._reader.begin() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed on exit and rolled back on any exception."""
        lock = contextlib.nullcontext() if self._write_lock is None else self._write_lock
        async with lock:
            with translated_errors():
                async with self._writer.begin() as conn:
                    yield conn
