"""AuditStore on SQL: an append-only trail read in ``seq`` order."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.engine import Connection

from ostiary.storage._checks import check_page
from ostiary.storage.records import AuditEvent
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import AuditEventRow

# ``audit tail --follow`` asks for "since n": as for the revocation feed, an event committed
# after a reader saw a later seq would be skipped. PostgreSQL hands out sequence values before
# commit, so adds hold this lock (plain reads do not wait for it) from nextval() to commit.
_PG_SERIALIZE_ADDS = text("LOCK TABLE audit_events IN EXCLUSIVE MODE")

_EVENTS = cast(Table, AuditEventRow.__table__)
_C = _EVENTS.c
_COLUMNS = (
    _C.kind,
    _C.time,
    _C.actor,
    _C.outcome,
    _C.subject,
    _C.address,
    _C.user_agent,
    _C.data,
    _C.seq,
)
# Several rows in one statement (SQLAlchemy's "insertmanyvalues"), their seq in row order.
_ADD = insert(_EVENTS).returning(_C.seq, sort_by_parameter_order=True)


def _record(row: Any) -> AuditEvent:
    kind, time, actor, outcome, subject, address, user_agent, data, seq = row
    return AuditEvent(
        kind=kind,
        time=time,
        actor=actor,
        outcome=outcome,
        subject=subject,
        address=address,
        user_agent=user_agent,
        data=json.loads(data),
        seq=seq,
    )


def _values(event: AuditEvent) -> dict[str, object]:
    return {
        "kind": event.kind,
        "time": event.time,
        "actor": event.actor,
        "outcome": event.outcome,
        "subject": event.subject,
        "address": event.address,
        "user_agent": event.user_agent,
        "data": json.dumps(dict(event.data), sort_keys=True, separators=(",", ":")),
    }


class SQLAuditStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, event: AuditEvent) -> AuditEvent:
        (stored,) = await self.add_many([event])
        return stored

    async def add_many(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        rows = [_values(event) for event in events]
        serialize = self._db.dialect == "postgresql"

        def add(conn: Connection) -> list[int]:
            if serialize:
                conn.execute(_PG_SERIALIZE_ADDS)
            return [int(seq) for seq in conn.execute(_ADD, rows).scalars()]

        # Relaxed: the JSON log line of each event is written at once; this copy may lose the
        # last events to a power failure (never to a crash of the process), and the next
        # durable commit (a revocation, a user or key change) makes them durable too.
        seqs = await self._db.write(add, relaxed=True) if rows else []
        return [
            dataclasses.replace(event, data=dict(event.data), seq=seq)
            for event, seq in zip(events, seqs, strict=True)
        ]

    async def query(
        self,
        *,
        since_seq: int = 0,
        kind: str | None = None,
        subject: str | None = None,
        actor: str | None = None,
        limit: int = 100,
        latest: bool = False,
    ) -> Sequence[AuditEvent]:
        check_page(limit=limit)
        stmt = select(*_COLUMNS).where(_C.seq > since_seq)
        if kind is not None:
            stmt = stmt.where(_C.kind == kind)
        if subject is not None:
            stmt = stmt.where(_C.subject == subject)
        if actor is not None:
            stmt = stmt.where(_C.actor == actor)
        stmt = stmt.order_by(_C.seq.desc() if latest else _C.seq).limit(limit)

        def query(conn: Connection) -> list[AuditEvent]:
            events = [_record(row) for row in conn.execute(stmt)]
            return events[::-1] if latest else events

        return await self._db.read(query)

    async def purge(self, *, before: float) -> int:
        stmt = delete(_EVENTS).where(_C.time < before)

        def purge(conn: Connection) -> int:
            return int(conn.execute(stmt).rowcount)

        return await self._db.write(purge)
