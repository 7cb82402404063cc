"""The demo's own PostgreSQL database: created at start, dropped at exit, through the admin
URL (a database of a user who may ``CREATE DATABASE``, e.g. ``postgres``)."""

from __future__ import annotations

import asyncio
import re
from typing import Final

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

CONNECT_TIMEOUT: Final = 5
#: Plain names only: the name is quoted into ``CREATE DATABASE``.
NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class DatabaseError(RuntimeError):
    """PostgreSQL refused, or did not answer."""


def instance_url(admin_url: str, name: str) -> str:
    """The URL the instances use: the admin URL's server and user, database ``name``, the
    asyncpg driver (``postgresql+asyncpg://``)."""
    url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


def server_version(admin_url: str) -> str:
    return asyncio.run(_run(admin_url, "SHOW server_version"))


def create(admin_url: str, name: str) -> None:
    """``CREATE DATABASE``; an existing one is an error (it may hold someone's data)."""
    if not NAME.fullmatch(name):
        raise DatabaseError(f"{name!r}: use lower-case letters, digits and _ only")
    if asyncio.run(_run(admin_url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")):
        raise DatabaseError(
            f"the database {name} exists already (left by a run that was killed?).\n"
            f"  Drop it: {drop_command(admin_url, name)}\n"
            "  or choose another name with --database."
        )
    asyncio.run(_run(admin_url, f'CREATE DATABASE "{name}"'))


def drop(admin_url: str, name: str) -> None:
    """``DROP DATABASE ... WITH (FORCE)``: ends the sessions left, if any."""
    asyncio.run(_run(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def drop_command(admin_url: str, name: str) -> str:
    """The ``psql`` command an operator would type to drop it."""
    url = make_url(admin_url)
    parts = ["psql", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    parts += ["-U", url.username or "postgres", "-d", url.database or "postgres"]
    return " ".join([*parts, "-c", f"'DROP DATABASE \"{name}\" WITH (FORCE)'"])


async def _run(admin_url: str, statement: str) -> str:
    """Run one statement outside a transaction; the first column of its first row, if any."""
    engine = create_async_engine(
        make_url(admin_url).set(drivername="postgresql+asyncpg"),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"timeout": CONNECT_TIMEOUT},
    )
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(statement))
            row = result.first() if result.returns_rows else None
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise DatabaseError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    finally:
        await engine.dispose()
    return "" if row is None else str(row[0])
