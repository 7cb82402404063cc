"""UserStore on SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select, update

from ostiary.storage._checks import check_page
from ostiary.storage.records import User
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import UserRow

_NO_SYNC = {"synchronize_session": False}


def _columns(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "password_hash": user.password_hash,
        "roles": json.dumps(sorted(user.roles)),
        "disabled": user.disabled,
        "created_at": user.created_at,
        "password_changed_at": user.password_changed_at,
    }


def _record(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        password_hash=row.password_hash,
        roles=frozenset(json.loads(row.roles)),
        disabled=row.disabled,
        created_at=row.created_at,
        password_changed_at=row.password_changed_at,
    )


class SQLUserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user: User) -> None:
        async with self._db.write() as s:
            s.add(UserRow(id=user.id, **_columns(user)))

    async def get(self, user_id: str) -> User | None:
        async with self._db.read() as s:
            row = await s.get(UserRow, user_id)
            return None if row is None else _record(row)

    async def get_by_username(self, username: str) -> User | None:
        async with self._db.read() as s:
            row = await s.scalar(select(UserRow).where(UserRow.username == username))
            return None if row is None else _record(row)

    async def update(self, user: User) -> None:
        async with self._db.write() as s:
            stmt = update(UserRow).where(UserRow.id == user.id).values(**_columns(user))
            await s.execute(stmt, execution_options=_NO_SYNC)

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[User]:
        check_page(offset=offset, limit=limit)
        stmt = select(UserRow).order_by(UserRow.created_at, UserRow.id)
        async with self._db.read() as s:
            rows = await s.scalars(stmt.offset(offset).limit(limit))
            return [_record(row) for row in rows]
