"""Alembic's environment for Ostiary's schema.

:func:`ostiary.storage.sql.upgrade` passes an open connection in ``config.attributes``. The
``alembic`` command line (for ``alembic revision --autogenerate``) gives a
``sqlalchemy.url`` instead, and an engine is opened here.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from ostiary.storage.sql.engine import for_writing, open_engine
from ostiary.storage.sql.models import Base


def run_on(connection: Connection) -> None:
    # Batch mode lets later migrations ALTER tables on SQLite, which rebuilds them.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_on_url(url: str) -> None:
    engine = open_engine(url)
    try:
        async with for_writing(engine).begin() as conn:
            await conn.run_sync(run_on)
    finally:
        await engine.dispose()


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    elif isinstance(connection, Connection):
        run_on(connection)
    elif url is not None:
        asyncio.run(run_on_url(url))
    else:
        raise RuntimeError("give a connection in config.attributes or a sqlalchemy.url")


main()
