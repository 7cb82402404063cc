"""SessionStore on SQL: refresh-token families and their tokens."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, select, update

from ostiary.storage._checks import check_family, check_revoke_target
from ostiary.storage.records import RefreshToken, Session
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import RefreshTokenRow, SessionRow

_NO_SYNC = {"synchronize_session": False}


def _session_row(session: Session) -> SessionRow:
    return SessionRow(
        id=session.id,
        user_id=session.user_id,
        client_id=session.client_id,
        scope=session.scope,
        created_at=session.created_at,
        last_used_at=session.last_used_at,
        expires_at=session.expires_at,
        revoked_at=session.revoked_at,
        user_agent=session.user_agent,
        address=session.address,
    )


def _token_row(token: RefreshToken) -> RefreshTokenRow:
    return RefreshTokenRow(
        token_hash=token.token_hash,
        session_id=token.session_id,
        issued_at=token.issued_at,
        used_at=token.used_at,
    )


def _session(row: SessionRow) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        client_id=row.client_id,
        scope=row.scope,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        user_agent=row.user_agent,
        address=row.address,
    )


def _token(row: RefreshTokenRow) -> RefreshToken:
    return RefreshToken(
        token_hash=row.token_hash,
        session_id=row.session_id,
        issued_at=row.issued_at,
        used_at=row.used_at,
    )


def _live(now: float) -> ColumnElement[bool]:
    return SessionRow.revoked_at.is_(None) & (SessionRow.expires_at > now)


class SQLSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, session: Session, first_token: RefreshToken) -> None:
        check_family(first_token, session.id)
        async with self._db.write() as s:
            s.add(_session_row(session))
            await s.flush()
            s.add(_token_row(first_token))

    async def get(self, session_id: str) -> Session | None:
        async with self._db.read() as s:
            row = await s.get(SessionRow, session_id)
            return None if row is None else _session(row)

    async def find_token(self, token_hash: str) -> tuple[RefreshToken, Session] | None:
        stmt = (
            select(RefreshTokenRow, SessionRow)
            .join(SessionRow, SessionRow.id == RefreshTokenRow.session_id)
            .where(RefreshTokenRow.token_hash == token_hash)
        )
        async with self._db.read() as s:
            found = (await s.execute(stmt)).one_or_none()
            return None if found is None else (_token(found[0]), _session(found[1]))

    async def rotate(self, old_hash: str, successor: RefreshToken, *, now: float) -> bool:
        # The winner is whoever flips used_at from NULL: on PostgreSQL a concurrent UPDATE of
        # the row waits for the first to commit and then re-checks "used_at IS NULL"; on
        # SQLite writers are serialized. The family's liveness is checked in the same UPDATE.
        claim = (
            update(RefreshTokenRow)
            .where(
                RefreshTokenRow.token_hash == old_hash,
                RefreshTokenRow.used_at.is_(None),
                exists().where(SessionRow.id == RefreshTokenRow.session_id, _live(now)),
            )
            .values(used_at=now)
            .returning(RefreshTokenRow.session_id)
        )
        touch = update(SessionRow).where(SessionRow.id == successor.session_id)
        async with self._db.write() as s:
            session_id = (await s.execute(claim, execution_options=_NO_SYNC)).scalar_one_or_none()
            if session_id is None:
                return False
            check_family(successor, session_id)  # raising rolls the claim back
            s.add(_token_row(successor))
            await s.flush()
            await s.execute(touch.values(last_used_at=now), execution_options=_NO_SYNC)
            return True

    async def revoke(
        self, *, now: float, session_id: str | None = None, user_id: str | None = None
    ) -> list[Session]:
        check_revoke_target(session_id, user_id)
        target = SessionRow.id == session_id if user_id is None else SessionRow.user_id == user_id
        stmt = (
            update(SessionRow)
            .where(target, _live(now))
            .values(revoked_at=now)
            .returning(SessionRow)
        )
        async with self._db.write() as s:
            rows = await s.scalars(stmt, execution_options=_NO_SYNC)
            revoked = [_session(row) for row in rows]
        return sorted(revoked, key=lambda r: (r.created_at, r.id), reverse=True)

    async def list_for_user(self, user_id: str, *, now: float) -> Sequence[Session]:
        stmt = (
            select(SessionRow)
            .where(SessionRow.user_id == user_id, _live(now))
            .order_by(SessionRow.created_at.desc(), SessionRow.id.desc())
        )
        async with self._db.read() as s:
            return [_session(row) for row in await s.scalars(stmt)]
