"""ConsentStore on SQL: one row per user and client, replaced by an upsert."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Executable, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ostiary.storage.records import Consent
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import ConsentRow

_CONSENTS = cast(Table, ConsentRow.__table__)
_C = _CONSENTS.c
_PAIR = (_C.user_id == bindparam("user"), _C.client_id == bindparam("client"))
# The columns in the order of Consent's fields: _record() unpacks rows by position.
_GET = select(_C.user_id, _C.client_id, _C.scopes, _C.granted_at).where(*_PAIR)
_DELETE = delete(_CONSENTS).where(*_PAIR)
# The dialect's INSERT, which knows ON CONFLICT.
_Insert = Callable[[Table], postgresql.Insert | sqlite.Insert]


def _upsert(insert: _Insert) -> Executable:
    new = insert(_CONSENTS)
    return new.on_conflict_do_update(
        index_elements=[_C.user_id, _C.client_id],
        set_={"scopes": new.excluded.scopes, "granted_at": new.excluded.granted_at},
    )


_PUT = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


def _record(row: Any) -> Consent:
    user_id, client_id, scopes, granted_at = row
    return Consent(
        user_id=user_id,
        client_id=client_id,
        scopes=frozenset(json.loads(scopes)),
        granted_at=granted_at,
    )


class SQLConsentStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._put = _PUT[db.dialect]

    async def get(self, user_id: str, client_id: str) -> Consent | None:
        def get(conn: Connection) -> Consent | None:
            row = conn.execute(_GET, {"user": user_id, "client": client_id}).first()
            return None if row is None else _record(row)

        return await self._db.read(get)

    async def put(self, consent: Consent) -> None:
        values = {
            "user_id": consent.user_id,
            "client_id": consent.client_id,
            "scopes": json.dumps(sorted(consent.scopes)),
            "granted_at": consent.granted_at,
        }

        def put(conn: Connection) -> None:
            conn.execute(self._put, values)

        await self._db.write(put)

    async def delete(self, user_id: str, client_id: str) -> None:
        def delete_(conn: Connection) -> None:
            conn.execute(_DELETE, {"user": user_id, "client": client_id})

        await self._db.write(delete_)
