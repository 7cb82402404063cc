"""Fixtures of the storage contract suites: every test runs against each backend.

- memory: a fresh :class:`MemoryStorage`.
- sqlite: a copy of a file migrated once per session (copying beats migrating per test).
- postgresql: a database of this run's own, ``ostiary_test_<random>``, created on the server of
  ``OSTIARY_TEST_POSTGRES_URL`` (default: the local ``test`` database), migrated once, emptied
  with TRUNCATE before each test and dropped at the end. Parallel runs never share one.
  Unreachable, its tests skip (and so fail under CI, see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ostiary.storage import MEMORY_URL, Storage, open_storage
from ostiary.storage.sql import SQLStorage, upgrade
from ostiary.storage.sql.models import Base

from .._postgres import PostgresUnavailable, in_thread, postgres_database

BACKENDS = ["memory", "sqlite", "postgresql"]
SQL_BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this session's own, dropped afterwards."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database("ostiary_test"))
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
        in_thread(lambda: upgrade(url))
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "ostiary.db"
    in_thread(lambda: upgrade(f"sqlite:///{path}"))
    return path


def prepare(backend: str, request: pytest.FixtureRequest) -> str:
    """The URL of an empty, migrated store of ``backend`` for one test."""
    if backend == "memory":
        return MEMORY_URL
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        tmp_path: Path = request.getfixturevalue("tmp_path")
        shutil.copyfile(template, tmp_path / "ostiary.db")
        return f"sqlite:///{tmp_path / 'ostiary.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def open_empty(url: str) -> Storage:
    """Open the storage at ``url`` and empty it (the PostgreSQL database is shared)."""
    storage = await open_storage(url)
    if isinstance(storage, SQLStorage) and storage.db.dialect == "postgresql":
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        truncate = text(f"TRUNCATE {tables} RESTART IDENTITY")
        await storage.db.write(lambda conn: conn.execute(truncate))
    return storage


async def warm_up(*storages: Storage, connections: int = 10) -> None:
    """Open pool connections ahead of a race, so that connecting does not space out the
    racers (and hide a lost update)."""
    await asyncio.gather(
        *(storage.clients.get("warm-up") for storage in storages for _ in range(connections))
    )


@pytest.fixture(params=BACKENDS)
def storage_url(request: pytest.FixtureRequest) -> str:
    return prepare(request.param, request)


@pytest.fixture(params=SQL_BACKENDS)
def sql_url(request: pytest.FixtureRequest) -> str:
    return prepare(request.param, request)


@pytest.fixture
async def storage(storage_url: str) -> AsyncIterator[Storage]:
    opened = await open_empty(storage_url)
    try:
        yield opened
    finally:
        await opened.close()
