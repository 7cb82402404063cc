"""RevocationStore on SQL: the feed resource servers poll with ``since``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.engine import Connection

from ostiary.storage._checks import check_page
from ostiary.storage.records import Revocation, RevocationKind
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import RevocationRow

# A reader that saw seq n must never later find a new entry below n. PostgreSQL hands out
# sequence values before commit, so two concurrent adds could commit out of order; holding
# this lock (which plain reads do not wait for) from before nextval() until commit keeps seq
# order and commit order the same. SQLite serializes writers anyway.
_PG_SERIALIZE_ADDS = text("LOCK TABLE revocations IN EXCLUSIVE MODE")

_REVOCATIONS = cast(Table, RevocationRow.__table__)
_C = _REVOCATIONS.c
# The columns in the order of Revocation's fields: _record() unpacks rows by position.
_COLUMNS = (_C.kind, _C.value, _C.not_before, _C.expires_at, _C.seq)
_ADD = insert(_REVOCATIONS).returning(*_COLUMNS)


def _record(row: Any) -> Revocation:
    kind, value, not_before, expires_at, seq = row
    return Revocation(
        kind=RevocationKind(kind),
        value=value,
        not_before=not_before,
        expires_at=expires_at,
        seq=seq,
    )


class SQLRevocationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, revocation: Revocation) -> Revocation:
        values = {
            "kind": revocation.kind.value,
            "value": revocation.value,
            "not_before": revocation.not_before,
            "expires_at": revocation.expires_at,
        }
        serialize = self._db.dialect == "postgresql"

        def add(conn: Connection) -> Revocation:
            if serialize:
                conn.execute(_PG_SERIALIZE_ADDS)
            return _record(conn.execute(_ADD, values).one())

        return await self._db.write(add)

    async def since(self, seq: int, *, limit: int = 1000) -> Sequence[Revocation]:
        check_page(limit=limit)
        stmt = select(*_COLUMNS).where(_C.seq > seq).order_by(_C.seq).limit(limit)

        def since(conn: Connection) -> list[Revocation]:
            return [_record(row) for row in conn.execute(stmt)]

        return await self._db.read(since)

    async def purge(self, *, now: float) -> int:
        stmt = delete(_REVOCATIONS).where(_C.expires_at < now).returning(_C.seq)

        def purge(conn: Connection) -> int:
            return len(conn.execute(stmt).all())

        return await self._db.write(purge)
