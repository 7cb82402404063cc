"""OnceStore on SQL: one upsert decides the first use of a key, across processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from sqlalchemy import Executable, Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import OnceKeyRow

_ONCE = cast(Table, OnceKeyRow.__table__)
_C = _ONCE.c
# The dialect's INSERT, which knows ON CONFLICT.
_Insert = Callable[[Table], postgresql.Insert | sqlite.Insert]


def _first_use(insert: _Insert) -> Executable:
    # INSERT ... ON CONFLICT DO UPDATE ... WHERE: a row comes back only if the key is new or its
    # entry had expired. PostgreSQL makes a concurrent upsert of the key wait for the first to
    # commit and then re-check the WHERE on the new row; SQLite serializes writers.
    new = insert(_ONCE).values(key=bindparam("once_key"), expires_at=bindparam("until"))
    return new.on_conflict_do_update(
        index_elements=[_C.key],
        set_={"expires_at": new.excluded.expires_at},
        where=_C.expires_at < bindparam("now"),
    ).returning(_C.key)


_FIRST_USE = {"postgresql": _first_use(postgresql.insert), "sqlite": _first_use(sqlite.insert)}
_PURGE = delete(_ONCE).where(_C.expires_at < bindparam("now")).returning(_C.key)


class SQLOnceStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._first_use = _FIRST_USE[db.dialect]

    async def first_use(self, key: str, *, expires_at: float, now: float) -> bool:
        # Remembered at least until now: a concurrent call at the same time must see it.
        params = {"once_key": key, "until": max(expires_at, now), "now": now}

        def first_use(conn: Connection) -> bool:
            return conn.execute(self._first_use, params).first() is not None

        return await self._db.write(first_use)

    async def purge(self, *, now: float) -> int:
        def purge(conn: Connection) -> int:
            return len(conn.execute(_PURGE, {"now": now}).all())

        return await self._db.write(purge)
