"""LeaseStore on SQL: one upsert decides who holds a lease, across processes."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import LeaseRow

_LEASES = cast(Table, LeaseRow.__table__)
_C = _LEASES.c


class SQLLeaseStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def acquire(self, name: str, *, holder: str, now: float, ttl: float) -> bool:
        # INSERT ... ON CONFLICT DO UPDATE ... WHERE: the row is written (and returned) only if
        # the lease is new, expired or already ours; both databases do this atomically.
        insert = postgresql.insert if self._db.dialect == "postgresql" else sqlite.insert
        new = insert(_LEASES).values(name=name, holder=holder, expires_at=now + ttl)
        stmt = new.on_conflict_do_update(
            index_elements=[_C.name],
            set_={"holder": new.excluded.holder, "expires_at": new.excluded.expires_at},
            where=(_C.expires_at <= now) | (_C.holder == holder),
        ).returning(_C.name)

        def acquire(conn: Connection) -> bool:
            return conn.execute(stmt).first() is not None

        return await self._db.write(acquire)

    async def release(self, name: str, *, holder: str) -> None:
        stmt = delete(_LEASES).where(_C.name == name, _C.holder == holder)

        def release(conn: Connection) -> None:
            conn.execute(stmt)

        await self._db.write(release)
