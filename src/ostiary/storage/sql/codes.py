"""AuthorizationCodeStore on SQL: single use decided by one conditional UPDATE."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from ostiary.storage.records import AuthorizationCode
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import AuthorizationCodeRow

_CODES = cast(Table, AuthorizationCodeRow.__table__)
_C = _CODES.c
# The columns in the order of AuthorizationCode's fields: _record() unpacks rows by position.
_COLUMNS = (
    _C.code_hash,
    _C.client_id,
    _C.user_id,
    _C.redirect_uri,
    _C.scope,
    _C.audiences,
    _C.code_challenge,
    _C.nonce,
    _C.auth_time,
    _C.browser_session_id,
    _C.issued_at,
    _C.expires_at,
    _C.used_at,
    _C.session_id,
    _C.dpop_jkt,
)
_INSERT = insert(_CODES)
_GET = select(*_COLUMNS).where(_C.code_hash == bindparam("hash"))
# Whoever flips used_at from NULL consumed the code: on PostgreSQL a concurrent UPDATE of the
# row waits for the first to commit and then re-checks "used_at IS NULL"; on SQLite writers
# are serialized.
_CONSUME = (
    update(_CODES)
    .where(_C.code_hash == bindparam("hash"), _C.used_at.is_(None))
    .values(used_at=bindparam("now"))
    .returning(*_COLUMNS)
)
_ATTACH = (
    update(_CODES).where(_C.code_hash == bindparam("hash")).values(session_id=bindparam("family"))
)
_PURGE = delete(_CODES).where(_C.expires_at < bindparam("now")).returning(_C.code_hash)


def _record(row: Any) -> AuthorizationCode:
    (
        code_hash,
        client_id,
        user_id,
        redirect_uri,
        scope,
        audiences,
        code_challenge,
        nonce,
        auth_time,
        browser_session_id,
        issued_at,
        expires_at,
        used_at,
        session_id,
        dpop_jkt,
    ) = row
    return AuthorizationCode(
        code_hash=code_hash,
        client_id=client_id,
        user_id=user_id,
        redirect_uri=redirect_uri,
        scope=scope,
        audiences=tuple(json.loads(audiences)),
        code_challenge=code_challenge,
        nonce=nonce,
        auth_time=auth_time,
        browser_session_id=browser_session_id,
        issued_at=issued_at,
        expires_at=expires_at,
        used_at=used_at,
        session_id=session_id,
        dpop_jkt=dpop_jkt,
    )


class SQLAuthorizationCodeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, code: AuthorizationCode) -> None:
        values = {
            "code_hash": code.code_hash,
            "client_id": code.client_id,
            "user_id": code.user_id,
            "redirect_uri": code.redirect_uri,
            "scope": code.scope,
            "audiences": json.dumps(list(code.audiences)),
            "code_challenge": code.code_challenge,
            "nonce": code.nonce,
            "auth_time": code.auth_time,
            "browser_session_id": code.browser_session_id,
            "issued_at": code.issued_at,
            "expires_at": code.expires_at,
            "used_at": code.used_at,
            "session_id": code.session_id,
            "dpop_jkt": code.dpop_jkt,
        }

        def add(conn: Connection) -> None:
            conn.execute(_INSERT, values)

        await self._db.write(add)

    async def consume(self, code_hash: str, *, now: float) -> AuthorizationCode | None:
        def consume(conn: Connection) -> AuthorizationCode | None:
            claimed = conn.execute(_CONSUME, {"hash": code_hash, "now": now}).first()
            if claimed is not None:
                # Claimed only if used_at was NULL: that is how the record was before.
                return dataclasses.replace(_record(claimed), used_at=None)
            # Unknown, or used already (committed before the UPDATE looked at the row).
            row = conn.execute(_GET, {"hash": code_hash}).first()
            return None if row is None else _record(row)

        # Durable: a consumption lost to a power failure would let the code be redeemed again.
        return await self._db.write(consume)

    async def attach_session(self, code_hash: str, session_id: str) -> None:
        def attach(conn: Connection) -> None:
            conn.execute(_ATTACH, {"hash": code_hash, "family": session_id})

        await self._db.write(attach)

    async def purge(self, *, now: float) -> int:
        def purge(conn: Connection) -> int:
            return len(conn.execute(_PURGE, {"now": now}).all())

        return await self._db.write(purge)
