"""``ostiary db``: the database schema."""

from __future__ import annotations

import asyncio

import typer

from ostiary.cli._command_setup import operator_settings
from ostiary.cli._output import describe, fail, print_json
from ostiary.errors import OstiaryError
from ostiary.storage import MEMORY_URL, StorageError

app = typer.Typer(help="The database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command() -> None:
    """Apply the migrations to OSTIARY_DATABASE_URL (nothing to do if it is up to date)."""
    from ostiary.storage.sql import current_revision, upgrade

    settings = operator_settings()
    url = settings.database_url
    if url == MEMORY_URL:
        fail("memory:// storage has no schema to migrate")
    try:
        upgrade(url)
        revision = asyncio.run(current_revision(url))
    except OstiaryError as exc:
        fail(describe(exc))
    except StorageError as exc:
        fail(f"the migration failed: {exc}")
    print_json({"database": redacted(url), "revision": revision})


def redacted(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show nothing of it
        return "<unparsable URL>"
