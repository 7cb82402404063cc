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
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ostiary.storage import MEMORY_URL, Storage, StorageError, open_storage
from ostiary.storage.sql import SQLStorage, normalize_url, upgrade
from ostiary.storage.sql.engine import translated_errors
from ostiary.storage.sql.models import Base

POSTGRES_ADMIN_URL = os.environ.get(
    "OSTIARY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["memory", "sqlite", "postgresql"]
SQL_BACKENDS = ["sqlite", "postgresql"]

T = TypeVar("T")


def in_thread(work: Callable[[], T]) -> T:
    """Run blocking set-up (which may call ``asyncio.run``) away from pytest-asyncio's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


async def _admin(statement: str) -> None:
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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated database of this session's own, dropped at its end."""
    name = f"ostiary_test_{secrets.token_hex(6)}"
    try:
        in_thread(lambda: asyncio.run(_admin(f'CREATE DATABASE "{name}"')))
    except StorageError as exc:
        where = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL at {where} is not usable ({type(exc).__name__}: {exc})")
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        in_thread(lambda: upgrade(url))
        yield url
    finally:
        in_thread(lambda: asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))


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
    if isinstance(storage, SQLStorage) and storage.engine.dialect.name == "postgresql":
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with storage.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    return storage


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
