"""Run the Alembic migrations shipped in this package, without an alembic.ini on disk.

Both databases migrate in one transaction; PostgreSQL first takes an advisory lock so that
server processes starting together run the migrations once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.storage.sql.engine import for_writing, open_engine, translated_errors

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant both sides agree on; the digits spell "ostiary" on a phone keypad.
_PG_MIGRATION_LOCK = text("SELECT pg_advisory_xact_lock(6784279)")


def alembic_config(url: str | None = None) -> Config:
    """The configuration ``alembic.ini`` would hold: where the scripts are, and the URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(url: str) -> None:
    """Migrate the database at ``url`` to the latest revision (synchronous, for the CLI)."""
    asyncio.run(upgrade_async(url))


async def upgrade_async(url: str) -> None:
    """Migrate the database at ``url`` to the latest revision; doing nothing if it is there."""
    engine = open_engine(url)
    try:
        with translated_errors():
            async with for_writing(engine).begin() as conn:
                if engine.dialect.name == "postgresql":
                    await conn.execute(_PG_MIGRATION_LOCK)
                await conn.run_sync(_upgrade_on, alembic_config())
    finally:
        await engine.dispose()


def _upgrade_on(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(db: str | AsyncEngine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    engine = open_engine(db) if isinstance(db, str) else db
    try:
        with translated_errors():
            async with engine.connect() as conn:
                return await conn.run_sync(_revision_of)
    finally:
        if isinstance(db, str):
            await engine.dispose()


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def is_up_to_date(db: str | AsyncEngine) -> bool:
    """True if the schema is at the latest revision: a readiness check."""
    return await current_revision(db) == head_revision()
