"""Run the Alembic migrations shipped in this package, without an alembic.ini on disk.

Both databases migrate in one transaction; PostgreSQL first takes an advisory lock so that
server processes starting together run the migrations once.

Alembic is imported only when a migration must run: a database already at
:data:`HEAD_REVISION` is recognized by reading ``alembic_version`` with plain SQL, so that a
server starting on it (and its ``/readyz``) never loads alembic's ~10 MiB.
:func:`upgrade_in_child` migrates one that is not in a child Python process, for ``ostiary
serve``: alembic and mako then load into that short-lived process, never into the server's.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.storage.sql.engine import Database, for_writing, open_engine, translated_errors

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
#: The newest revision in ``migrations/versions``: a new migration must update it (a test
#: checks it against alembic's own view of the scripts, :func:`head_revision`).
HEAD_REVISION: Final = "0006"
_VERSION_TABLE: Final = "alembic_version"
# Any constant both sides agree on; the digits spell "ostiary" on a phone keypad.
_PG_MIGRATION_LOCK = text("SELECT pg_advisory_xact_lock(6784279)")
#: What :func:`upgrade_in_child` runs: :func:`upgrade` of the URL on its standard input (not
#: its command line, which every local user may read, password included).
_CHILD_SCRIPT: Final = (
    "import sys; from ostiary.storage.sql.migrate import upgrade; upgrade(sys.stdin.read())"
)


def alembic_config(url: str | None = None) -> Config:
    """The configuration ``alembic.ini`` would hold: where the scripts are, and the URL."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The head revision as alembic reads it from the scripts (imports alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(url: str) -> None:
    """Migrate the database at ``url`` to the latest revision (synchronous, for the CLI)."""
    asyncio.run(upgrade_async(url))


async def upgrade_async(url: str) -> None:
    """Migrate the database at ``url`` to the latest revision; doing nothing if it is there."""
    engine = open_engine(url)
    try:
        with translated_errors():
            async with engine.connect() as conn:
                if await conn.run_sync(_revisions_of) == (HEAD_REVISION,):
                    return
            async with for_writing(engine).begin() as conn:
                if engine.dialect.name == "postgresql":
                    await conn.execute(_PG_MIGRATION_LOCK)
                await conn.run_sync(_upgrade_on, alembic_config())
    finally:
        await engine.dispose()


def upgrade_in_child(url: str) -> bool:
    """Migrate the database at ``url`` to the latest revision in a child Python process, so
    that alembic and mako (about 8 MiB) load there and never into this one: a server's
    start-up. Nothing is started if the database is at the latest revision already.

    True if the database is now at the latest revision. False if it could not be read or the
    child failed, for whatever reason (its output is dropped): the caller then migrates in
    its own process (:func:`upgrade_async`), which reports the failure as it always has."""
    try:
        at_head = asyncio.run(is_up_to_date(url))
    except Exception:  # an unreachable database, a malformed URL: the caller's to report
        return False
    if at_head:
        return True
    done = subprocess.run(  # this interpreter and a fixed script; the URL on stdin
        [sys.executable, "-c", _CHILD_SCRIPT],
        input=url,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0


def _upgrade_on(connection: Connection, config: Config) -> None:
    from alembic import command

    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(db: str | AsyncEngine | Database) -> str | None:
    """The revision the database is at (None before the first migration)."""
    revisions = await _revisions(db)
    if len(revisions) > 1:  # as alembic's MigrationContext.get_current_revision does
        raise RuntimeError(f"the database is at several revisions: {', '.join(revisions)}")
    return revisions[0] if revisions else None


async def is_up_to_date(db: str | AsyncEngine | Database) -> bool:
    """True if the schema is at the latest revision: a readiness check."""
    return await _revisions(db) == (HEAD_REVISION,)


async def _revisions(db: str | AsyncEngine | Database) -> tuple[str, ...]:
    if isinstance(db, Database):
        return await db.read(_revisions_of)
    engine = open_engine(db) if isinstance(db, str) else db
    try:
        with translated_errors():
            async with engine.connect() as conn:
                return await conn.run_sync(_revisions_of)
    finally:
        if isinstance(db, str):
            await engine.dispose()


def _revisions_of(connection: Connection) -> tuple[str, ...]:
    """The rows of ``alembic_version``, read without alembic; () when there is no such table."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return ()
    rows = connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}"))
    return tuple(sorted(str(row[0]) for row in rows))
