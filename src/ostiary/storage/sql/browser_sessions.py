"""BrowserSessionStore on SQL: signed-in browsers (single sign-on)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from ostiary.storage.records import BrowserSession
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import BrowserSessionRow

_SESSIONS = cast(Table, BrowserSessionRow.__table__)
_C = _SESSIONS.c
# The columns in the order of BrowserSession's fields: _record() unpacks rows by position.
_COLUMNS = (_C.id, _C.user_id, _C.auth_time, _C.created_at, _C.expires_at, _C.revoked_at)
_INSERT = insert(_SESSIONS)
_GET = select(*_COLUMNS).where(_C.id == bindparam("session_id"))
# Only the call that sets revoked_at gets the row back.
_REVOKE = (
    update(_SESSIONS)
    .where(_C.id == bindparam("session_id"), _C.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
    .returning(*_COLUMNS)
)
_LIVE = _C.revoked_at.is_(None) & (_C.expires_at > bindparam("now"))
_REVOKE_USER = (
    update(_SESSIONS)
    .where(_C.user_id == bindparam("owner"), _LIVE)
    .values(revoked_at=bindparam("now"))
    .returning(*_COLUMNS)
)
_LIST_USER = select(*_COLUMNS).where(_C.user_id == bindparam("owner"), _LIVE)
_PURGE = delete(_SESSIONS).where(_C.expires_at < bindparam("now")).returning(_C.id)


def _record(row: Any) -> BrowserSession:
    session_id, user_id, auth_time, created_at, expires_at, revoked_at = row
    return BrowserSession(
        id=session_id,
        user_id=user_id,
        auth_time=auth_time,
        created_at=created_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


class SQLBrowserSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, session: BrowserSession) -> None:
        values = {
            "id": session.id,
            "user_id": session.user_id,
            "auth_time": session.auth_time,
            "created_at": session.created_at,
            "expires_at": session.expires_at,
            "revoked_at": session.revoked_at,
        }

        def create(conn: Connection) -> None:
            conn.execute(_INSERT, values)

        await self._db.write(create)

    async def get(self, session_id: str) -> BrowserSession | None:
        def get(conn: Connection) -> BrowserSession | None:
            row = conn.execute(_GET, {"session_id": session_id}).first()
            return None if row is None else _record(row)

        return await self._db.read(get)

    async def revoke(self, session_id: str, *, now: float) -> BrowserSession | None:
        def revoke(conn: Connection) -> BrowserSession | None:
            row = conn.execute(_REVOKE, {"session_id": session_id, "now": now}).first()
            return None if row is None else _record(row)

        return await self._db.write(revoke)

    async def revoke_user(self, user_id: str, *, now: float) -> list[BrowserSession]:
        def revoke_user(conn: Connection) -> list[BrowserSession]:
            return [_record(r) for r in conn.execute(_REVOKE_USER, {"owner": user_id, "now": now})]

        return _newest_first(await self._db.write(revoke_user))

    async def list_for_user(self, user_id: str, *, now: float) -> Sequence[BrowserSession]:
        def list_(conn: Connection) -> list[BrowserSession]:
            return [_record(r) for r in conn.execute(_LIST_USER, {"owner": user_id, "now": now})]

        return _newest_first(await self._db.read(list_))

    async def purge(self, *, now: float) -> int:
        def purge(conn: Connection) -> int:
            return len(conn.execute(_PURGE, {"now": now}).all())

        return await self._db.write(purge)


def _newest_first(sessions: Iterable[BrowserSession]) -> list[BrowserSession]:
    return sorted(sessions, key=lambda s: (s.created_at, s.id), reverse=True)
