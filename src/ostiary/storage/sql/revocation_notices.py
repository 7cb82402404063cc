"""Revocation notices through the database itself, when there is no Redis.

- PostgreSQL: ``NOTIFY`` after the revocation commits, ``LISTEN`` on a connection of its own
  (asyncpg, outside SQLAlchemy's pool: a pooled connection would be handed to other work).
- SQLite (one machine, possibly several processes): there is no message channel between
  processes, so a listener watches the file. ``PRAGMA data_version`` on a connection of its
  own changes whenever another connection commits; only then does it read ``max(seq)`` of the
  revocations (and the signing keys' ids and states: a change yields ``KEYS_CHANGED``). That
  check costs a few microseconds, so it runs every 0.1 s: a revocation of another process is
  applied within about 0.1 s, without a query of the revocations table while nothing changes.
  Publishing is a no-op: the commit is the notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from ostiary.storage.protocols import KEYS_CHANGED, RevocationNotices
from ostiary.storage.sql.engine import Database, PostgresDatabase, SQLiteDatabase

#: The PostgreSQL channel: NOTIFY reaches only the sessions of the same database.
PG_CHANNEL: Final = "ostiary_revocations"
PG_CONNECT_TIMEOUT: Final = 5.0
#: A LISTEN connection idle this long runs ``SELECT 1``: a dead peer shows itself.
PG_HEARTBEAT_SECONDS: Final = 10.0
#: How often a SQLite listener looks at the file.
SQLITE_CHECK_SECONDS: Final = 0.1

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
#: A few rows (the keys in use): read only when the file changed.
_KEYS_STATE = (
    "SELECT group_concat(kid || ':' || status || ':' || coalesce(retired_at, ''), ',') "
    "FROM (SELECT kid, status, retired_at FROM signing_keys ORDER BY kid)"
)


class PostgresRevocationNotices:
    """``NOTIFY``/``LISTEN`` on the database of ``db``."""

    def __init__(self, db: PostgresDatabase, *, channel: str = PG_CHANNEL) -> None:
        self._db = db
        self._dsn = _asyncpg_dsn(db.engine.url)
        self.channel = channel

    async def publish(self, seq: int) -> None:
        values = {"channel": self.channel, "payload": str(seq)}

        def notify(conn: Connection) -> None:
            conn.execute(_NOTIFY, values)

        await self._db.write(notify)

    async def listen(self) -> AsyncGenerator[int, None]:
        import asyncpg  # type: ignore[import-untyped]  # the postgres extra (no stubs)

        queue: asyncio.Queue[int | None] = asyncio.Queue()

        def on_notice(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            seq = _seq(payload)
            if seq is not None:
                queue.put_nowait(seq)

        conn = await asyncpg.connect(self._dsn, timeout=PG_CONNECT_TIMEOUT)
        try:
            conn.add_termination_listener(lambda _conn: queue.put_nowait(None))
            await conn.add_listener(self.channel, on_notice)  # LISTEN: subscribed on return
            yield 0
            while True:
                try:
                    seq = await asyncio.wait_for(queue.get(), PG_HEARTBEAT_SECONDS)
                except TimeoutError:
                    await conn.fetchval("SELECT 1", timeout=PG_CONNECT_TIMEOUT)
                    continue
                if seq is None:
                    raise ConnectionError("the LISTEN connection was closed")
                yield seq
        finally:
            conn.terminate()  # no goodbye round trip to a peer that may be gone

    async def close(self) -> None:
        """Nothing of its own to release: :meth:`publish` uses the stores' pool."""


class SQLiteRevocationNotices:
    """Watches the SQLite file at ``path`` (see the module's docstring)."""

    def __init__(self, path: str, *, interval: float = SQLITE_CHECK_SECONDS) -> None:
        self._path = path
        self._interval = interval

    async def publish(self, seq: int) -> None:
        """The commit is the notice: listeners see the file change."""

    async def listen(self) -> AsyncGenerator[int, None]:
        # One thread owns the watching connection: sqlite3 calls block.
        thread = ThreadPoolExecutor(1, thread_name_prefix="ostiary-sqlite-notices")
        loop = asyncio.get_running_loop()
        watcher = await loop.run_in_executor(thread, _FileWatcher, self._path)
        try:
            last, keys = await loop.run_in_executor(thread, watcher.look)
            yield 0
            while True:
                await asyncio.sleep(self._interval)
                seen = await loop.run_in_executor(thread, watcher.look_if_changed)
                if seen is None:
                    continue
                seq, now_keys = seen
                if seq > last:
                    last = seq
                    yield seq
                if now_keys != keys:
                    keys = now_keys
                    yield KEYS_CHANGED
        finally:
            with contextlib.suppress(Exception):
                await loop.run_in_executor(thread, watcher.close)
            thread.shutdown(wait=False)

    async def close(self) -> None:
        """Nothing to release: each listener closes its own connection."""


class _FileWatcher:
    """A read-only connection to the file, used from one thread."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._version = -1

    def look(self) -> tuple[int, str]:
        """The newest revocation's seq, and the signing keys' ids and states."""
        self._version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        row = self._conn.execute("SELECT coalesce(max(seq), 0) FROM revocations").fetchone()
        keys = self._conn.execute(_KEYS_STATE).fetchone()
        return int(row[0]), str(keys[0] or "")

    def look_if_changed(self) -> tuple[int, str] | None:
        """What :meth:`look` says, or None when no other connection committed since."""
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if version == self._version:
            return None
        return self.look()

    def close(self) -> None:
        self._conn.close()


def sql_revocation_notices(db: Database) -> RevocationNotices | None:
    """The notices of ``db``'s backend; None for an in-memory SQLite database (one process)."""
    if isinstance(db, PostgresDatabase):
        return PostgresRevocationNotices(db)
    if isinstance(db, SQLiteDatabase):
        path = db.engine.url.database
        if not path or path == ":memory:" or path.startswith("file::memory:"):
            return None
        return SQLiteRevocationNotices(path)
    return None


def _asyncpg_dsn(url: URL) -> str:
    """The SQLAlchemy URL as a plain ``postgresql://`` DSN for asyncpg."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _seq(payload: str) -> int | None:
    try:
        seq = int(payload)
    except ValueError:
        return None
    return seq if seq > 0 or seq == KEYS_CHANGED else None
