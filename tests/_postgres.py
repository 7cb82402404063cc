"""Throwaway PostgreSQL databases for the tests, on the server of ``OSTIARY_TEST_POSTGRES_URL``
(default: the local ``test`` database). Each run or test gets a database of its own, so runs
never collide; it is dropped when left."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
