"""KeyStore on SQL: signing keys, their private halves sealed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update

from ostiary.storage.records import KeyStatus, StoredKey
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import SigningKeyRow

_NO_SYNC = {"synchronize_session": False}


def _record(row: SigningKeyRow) -> StoredKey:
    return StoredKey(
        kid=row.kid,
        alg=row.alg,
        status=KeyStatus(row.status),
        sealed=row.sealed,
        created_at=row.created_at,
        activated_at=row.activated_at,
        retired_at=row.retired_at,
    )


class SQLKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self) -> Sequence[StoredKey]:
        stmt = select(SigningKeyRow).order_by(SigningKeyRow.created_at, SigningKeyRow.kid)
        async with self._db.read() as s:
            return [_record(row) for row in await s.scalars(stmt)]

    async def add(self, key: StoredKey) -> None:
        row = SigningKeyRow(
            kid=key.kid,
            alg=key.alg,
            status=key.status.value,
            sealed=key.sealed,
            created_at=key.created_at,
            activated_at=key.activated_at,
            retired_at=key.retired_at,
        )
        async with self._db.write() as s:
            s.add(row)

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
        stmt = update(SigningKeyRow).where(SigningKeyRow.kid == kid).values(values)
        async with self._db.write() as s:
            await s.execute(stmt, execution_options=_NO_SYNC)

    async def delete(self, kid: str) -> None:
        stmt = delete(SigningKeyRow).where(SigningKeyRow.kid == kid)
        async with self._db.write() as s:
            await s.execute(stmt, execution_options=_NO_SYNC)
