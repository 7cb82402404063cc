"""KeyStore on SQL: signing keys, their private halves sealed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Executable, Table, delete, insert, select, update
from sqlalchemy.engine import Connection

from ostiary.storage.records import KeyStatus, StoredKey
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import SigningKeyRow

_KEYS = cast(Table, SigningKeyRow.__table__)
_C = _KEYS.c
_LIST = select(
    _C.kid, _C.alg, _C.status, _C.sealed, _C.created_at, _C.activated_at, _C.retired_at
).order_by(_C.created_at, _C.kid)


def _record(row: Any) -> StoredKey:
    kid, alg, status, sealed, created_at, activated_at, retired_at = row
    return StoredKey(
        kid=kid,
        alg=alg,
        status=KeyStatus(status),
        sealed=sealed,
        created_at=created_at,
        activated_at=activated_at,
        retired_at=retired_at,
    )


def _run(stmt: Executable, values: dict[str, object] | None = None) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        conn.execute(stmt, values)

    return run


class SQLKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self) -> Sequence[StoredKey]:
        def list_(conn: Connection) -> list[StoredKey]:
            return [_record(row) for row in conn.execute(_LIST)]

        return await self._db.read(list_)

    async def add(self, key: StoredKey) -> None:
        values: dict[str, object] = {
            "kid": key.kid,
            "alg": key.alg,
            "status": key.status.value,
            "sealed": key.sealed,
            "created_at": key.created_at,
            "activated_at": key.activated_at,
            "retired_at": key.retired_at,
        }
        await self._db.write(_run(insert(_KEYS), values))

    async def set_status(
        self,
        kid: str,
        status: KeyStatus,
        *,
        activated_at: float | None = None,
        retired_at: float | None = None,
    ) -> None:
        values: dict[str, object] = {"status": status.value}
        if activated_at is not None:
            values["activated_at"] = activated_at
        if retired_at is not None:
            values["retired_at"] = retired_at
        await self._db.write(_run(update(_KEYS).where(_C.kid == kid).values(values)))

    async def delete(self, kid: str) -> None:
        await self._db.write(_run(delete(_KEYS).where(_C.kid == kid)))
