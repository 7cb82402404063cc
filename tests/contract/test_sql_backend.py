"""What only the SQL backend promises: migrations, SQLite's setup, no driver error escaping."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import traceback
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import QueuePool

from ostiary.errors import ConfigurationError
from ostiary.settings import Settings
from ostiary.storage import Conflict, MemoryStorage, StorageError, open_storage
from ostiary.storage.sql import (
    SQLStorage,
    current_revision,
    head_revision,
    is_up_to_date,
    normalize_url,
    open_database,
    open_engine,
    upgrade,
    upgrade_async,
)
from ostiary.storage.sql.engine import PostgresDatabase
from ostiary.storage.sql.models import Base
from tests.contract import examples as ex
from tests.contract.conftest import open_empty


def test_a_fresh_sqlite_file_is_migrated_once_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    upgrade(url)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert version == (head_revision(),)


async def test_readiness_reports_the_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ready.db'}"
    assert await current_revision(url) is None
    assert not await is_up_to_date(url)
    await upgrade_async(url)
    await upgrade_async(url)
    assert await current_revision(url) == head_revision() == "0006"
    assert await is_up_to_date(url)


async def test_upgrade_is_idempotent_and_the_schema_matches_the_models(sql_url: str) -> None:
    await upgrade_async(sql_url)
    engine = open_engine(sql_url)
    try:
        assert await is_up_to_date(engine)
        async with engine.connect() as conn:
            differences = await conn.run_sync(_schema_differences)
    finally:
        await engine.dispose()
    assert differences == []


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_sqlite_connections_enforce_foreign_keys_and_wait_when_busy(
    tmp_path: Path,
) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        await engine.dispose()


async def test_sqlite_stores_run_with_the_same_setup_and_fsync_all_but_relaxed_writes(
    tmp_path: Path,
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'sync.db'}")

    def pragmas(conn: Connection) -> tuple[object, ...]:
        names = ("foreign_keys", "busy_timeout", "journal_mode", "synchronous")
        return tuple(conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names)

    full, normal = 2, 1
    try:
        assert await db.read(pragmas) == (1, 5000, "wal", full)
        assert await db.write(pragmas) == (1, 5000, "wal", full)
        assert (await db.write(pragmas, relaxed=True))[3] == normal
        assert (await db.write(pragmas))[3] == full  # the same connection, set back
    finally:
        await db.dispose()


async def test_work_that_raises_rolls_back_and_the_error_comes_out(sql_url: str) -> None:
    await upgrade_async(sql_url)
    storage = await open_empty(sql_url)
    assert isinstance(storage, SQLStorage)

    def half_done(conn: Connection) -> None:
        conn.execute(text("DELETE FROM alembic_version"))
        raise LookupError("changed my mind")

    try:
        with pytest.raises(LookupError, match="changed my mind"):
            await storage.db.write(half_done)
        assert await is_up_to_date(storage.db)
    finally:
        await storage.close()


async def test_a_conflict_carries_no_secret(storage_url: str) -> None:
    """Neither the bound parameters nor PostgreSQL's DETAIL line reach a logged traceback."""
    storage = await open_empty(storage_url)
    secret_hash = "sha256-of-a-refresh-token-0123456789abcdef"
    try:
        await storage.sessions.create(ex.session("s-1"), ex.token(secret_hash))
        with pytest.raises(Conflict) as caught:
            await storage.sessions.create(
                ex.session("s-2"), ex.token(secret_hash, session_id="s-2")
            )
        logged = "".join(traceback.format_exception(caught.value))
        assert secret_hash not in logged
    finally:
        await storage.close()


async def test_open_storage_picks_the_backend(tmp_path: Path) -> None:
    memory = await open_storage("memory://")
    assert isinstance(memory, MemoryStorage)
    await memory.close()
    sql = await open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(sql, SQLStorage)
    await sql.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///./ostiary.db", "sqlite+aiosqlite:///./ostiary.db"),
        ("postgres://u:p%40ss@db/app", "postgresql+asyncpg://u:p%40ss@db/app"),
        ("postgresql+asyncpg://db/app", "postgresql+asyncpg://db/app"),
    ],
)
def test_urls_get_their_async_driver(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


@pytest.mark.parametrize("url", ["mysql://db/app", "sqlite+pysqlite:///x.db", "not a url"])
def test_unsupported_urls_are_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        normalize_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/none",  # nothing listens on port 1
        "sqlite:///{tmp}/missing-dir/x.db",
        "sqlite:///{tmp}/unmigrated.db",
    ],
    ids=["unreachable", "unopenable", "unmigrated"],
)
async def test_driver_errors_become_storage_errors(tmp_path: Path, url: str) -> None:
    storage = await open_storage(url.format(tmp=tmp_path))
    try:
        with pytest.raises(StorageError) as caught:
            await storage.users.create(ex.user())
        assert type(caught.value) is StorageError
    finally:
        await storage.close()
        await _join_aiosqlite_workers()


async def _join_aiosqlite_workers() -> None:
    """After a failed connect, aiosqlite stops its worker thread without awaiting it; the
    thread then reports to the loop, which must still be open (omnilib/aiosqlite#241)."""
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 5)


async def test_the_postgresql_pool_holds_the_configured_number_of_connections(
    postgres_url: str,
) -> None:
    """``OSTIARY_DATABASE_POOL_SIZE``: that many connections at most, however many
    transactions run at once; the others wait for one."""
    settings = Settings(database_url=postgres_url, database_pool_size=2)
    storage = await open_storage(settings.database_url, pool_size=settings.database_pool_size)
    assert isinstance(storage, SQLStorage)
    try:
        assert isinstance(storage.db, PostgresDatabase)
        engine = storage.db.engine
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == 2

        async def busy() -> None:
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SELECT pg_sleep(0.05)")

        await asyncio.gather(*(busy() for _ in range(6)))
        assert pool.checkedin() <= 2
    finally:
        await storage.close()
