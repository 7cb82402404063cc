"""LeaseStore on SQL: one upsert decides who holds a lease, across processes."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import LeaseRow


class SQLLeaseStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def acquire(self, name: str, *, holder: str, now: float, ttl: float) -> bool:
        # INSERT ... ON CONFLICT DO UPDATE ... WHERE: the row is written (and returned) only if
        # the lease is new, expired or already ours; both databases do this atomically.
        insert = postgresql.insert if self._db.dialect == "postgresql" else sqlite.insert
        new = insert(LeaseRow).values(name=name, holder=holder, expires_at=now + ttl)
        stmt = new.on_conflict_do_update(
            index_elements=[LeaseRow.name],
            set_={"holder": new.excluded.holder, "expires_at": new.excluded.expires_at},
            where=(LeaseRow.expires_at <= now) | (LeaseRow.holder == holder),
        ).returning(LeaseRow.name)
        async with self._db.write() as s:
            return (await s.execute(stmt)).first() is not None

    async def release(self, name: str, *, holder: str) -> None:
        stmt = delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder)
        async with self._db.write() as s:
            await s.execute(stmt, execution_options={"synchronize_session": False})
