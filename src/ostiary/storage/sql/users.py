"""UserStore on SQL, in SQLAlchemy Core: rows come back as tuples and become records here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from ostiary.storage._checks import check_page
from ostiary.storage.records import User
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import UserRow

USERS = cast(Table, UserRow.__table__)
_C = USERS.c
#: The columns in the order of User's fields: :func:`user_record` unpacks rows by position.
USER_COLUMNS = (
    _C.id,
    _C.username,
    _C.password_hash,
    _C.roles,
    _C.disabled,
    _C.created_at,
    _C.password_changed_at,
)
_SELECT = select(*USER_COLUMNS)
_BY_ID = _SELECT.where(_C.id == bindparam("user_id"))
_BY_USERNAME = _SELECT.where(_C.username == bindparam("username"))
_INSERT = insert(USERS)
_LIST = _SELECT.order_by(_C.created_at, _C.id)


def _columns(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "password_hash": user.password_hash,
        "roles": json.dumps(sorted(user.roles)),
        "disabled": user.disabled,
        "created_at": user.created_at,
        "password_changed_at": user.password_changed_at,
    }


def user_record(row: Any) -> User:
    """The user of a row of :data:`USER_COLUMNS`."""
    user_id, username, password_hash, roles, disabled, created_at, password_changed_at = row
    return User(
        id=user_id,
        username=username,
        password_hash=password_hash,
        roles=frozenset(json.loads(roles)),
        disabled=disabled,
        created_at=created_at,
        password_changed_at=password_changed_at,
    )


class SQLUserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user: User) -> None:
        values = {"id": user.id, **_columns(user)}

        def create(conn: Connection) -> None:
            conn.execute(_INSERT, values)

        await self._db.write(create)

    async def get(self, user_id: str) -> User | None:
        def get(conn: Connection) -> User | None:
            row = conn.execute(_BY_ID, {"user_id": user_id}).first()
            return None if row is None else user_record(row)

        return await self._db.read(get)

    async def get_by_username(self, username: str) -> User | None:
        def get(conn: Connection) -> User | None:
            row = conn.execute(_BY_USERNAME, {"username": username}).first()
            return None if row is None else user_record(row)

        return await self._db.read(get)

    async def update(self, user: User) -> None:
        stmt = update(USERS).where(_C.id == user.id).values(**_columns(user))

        def update_(conn: Connection) -> None:
            conn.execute(stmt)

        await self._db.write(update_)

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[User]:
        check_page(offset=offset, limit=limit)
        stmt = _LIST.offset(offset).limit(limit)

        def list_(conn: Connection) -> list[User]:
            return [user_record(row) for row in conn.execute(stmt)]

        return await self._db.read(list_)
