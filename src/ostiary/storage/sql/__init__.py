"""Storage on SQLite (aiosqlite) or PostgreSQL (asyncpg) through SQLAlchemy, with Alembic
migrations shipped in the package."""

from __future__ import annotations

from ostiary.storage.sql.engine import (
    DEFAULT_URL,
    Database,
    normalize_url,
    open_database,
    open_engine,
)
from ostiary.storage.sql.migrate import (
    current_revision,
    head_revision,
    is_up_to_date,
    upgrade,
    upgrade_async,
)
from ostiary.storage.sql.storage import SQLStorage

__all__ = [
    "DEFAULT_URL",
    "Database",
    "SQLStorage",
    "current_revision",
    "head_revision",
    "is_up_to_date",
    "normalize_url",
    "open_database",
    "open_engine",
    "upgrade",
    "upgrade_async",
]
