"""RevocationStore on SQL: the feed resource servers poll with ``since``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, text

from ostiary.storage._checks import check_page
from ostiary.storage.records import Revocation, RevocationKind
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import RevocationRow

# A reader that saw seq n must never later find a new entry below n. PostgreSQL hands out
# sequence values before commit, so two concurrent adds could commit out of order; holding
# this lock (which plain reads do not wait for) from before nextval() until commit keeps seq
# order and commit order the same. SQLite serializes writers anyway.
_PG_SERIALIZE_ADDS = text("LOCK TABLE revocations IN EXCLUSIVE MODE")


def _record(row: RevocationRow) -> Revocation:
    return Revocation(
        kind=RevocationKind(row.kind),
        value=row.value,
        not_before=row.not_before,
        expires_at=row.expires_at,
        seq=row.seq,
    )


class SQLRevocationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, revocation: Revocation) -> Revocation:
        row = RevocationRow(
            kind=revocation.kind.value,
            value=revocation.value,
            not_before=revocation.not_before,
            expires_at=revocation.expires_at,
        )
        async with self._db.write() as s:
            if self._db.dialect == "postgresql":
                await s.execute(_PG_SERIALIZE_ADDS)
            s.add(row)
            await s.flush()
            return _record(row)

    async def since(self, seq: int, *, limit: int = 1000) -> Sequence[Revocation]:
        check_page(limit=limit)
        stmt = (
            select(RevocationRow)
            .where(RevocationRow.seq > seq)
            .order_by(RevocationRow.seq)
            .limit(limit)
        )
        async with self._db.read() as s:
            return [_record(row) for row in await s.scalars(stmt)]

    async def purge(self, *, now: float) -> int:
        stmt = (
            delete(RevocationRow).where(RevocationRow.expires_at < now).returning(RevocationRow.seq)
        )
        async with self._db.write() as s:
            purged = await s.scalars(stmt, execution_options={"synchronize_session": False})
            return len(purged.all())
