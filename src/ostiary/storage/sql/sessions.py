"""SessionStore on SQL: login sessions (a refresh-token family each) and their tokens.

SQLAlchemy Core on the transaction's connection: rows come back as tuples and become records
here."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    Table,
    Text,
    Update,
    and_,
    bindparam,
    exists,
    false,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import BindParameter

from ostiary.storage._checks import check_family, check_revoke_target, is_live
from ostiary.storage.records import LoginSession, RefreshToken, Rotation, User
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import RefreshTokenRow, Seconds, SessionRow
from ostiary.storage.sql.users import USER_COLUMNS, USERS, user_record

_SESSIONS = cast(Table, SessionRow.__table__)
_TOKENS = cast(Table, RefreshTokenRow.__table__)
_S = _SESSIONS.c
_T = _TOKENS.c
# The columns in the order of the records' fields: rows are turned into records by position.
_SESSION_COLUMNS = (
    _S.id,
    _S.user_id,
    _S.client_id,
    _S.scope,
    _S.created_at,
    _S.last_used_at,
    _S.expires_at,
    _S.revoked_at,
    _S.user_agent,
    _S.address,
    _S.browser_session_id,
    _S.audiences,
    _S.dpop_jkt,
)
_TOKEN_COLUMNS = (_T.token_hash, _T.session_id, _T.issued_at, _T.used_at)
_N_TOKEN = len(_TOKEN_COLUMNS)
_N_FAMILY = _N_TOKEN + len(_SESSION_COLUMNS)
_N_FOUND = _N_FAMILY + len(USER_COLUMNS)

_INSERT_SESSION = insert(_SESSIONS)
_INSERT_TOKEN = insert(_TOKENS)
_GET = select(*_SESSION_COLUMNS).where(_S.id == bindparam("session_id"))
_FIND_TOKEN = (
    select(*_TOKEN_COLUMNS, *_SESSION_COLUMNS)
    .join_from(_TOKENS, _SESSIONS, _S.id == _T.session_id)
    .where(_T.token_hash == bindparam("token_hash"))
)
# The token, its family and the family's user (NULLs if none). On SQLite, where writers take
# turns (BEGIN IMMEDIATE), what a write transaction reads stays true until it commits.
_FIND_FOR_USER = (
    select(*_TOKEN_COLUMNS, *_SESSION_COLUMNS, *USER_COLUMNS)
    .join_from(_TOKENS, _SESSIONS, _S.id == _T.session_id)
    .outerjoin(USERS, USERS.c.id == _S.user_id)
    .where(_T.token_hash == bindparam("token_hash"))
)


def _rotation_in_one_statement() -> Select[Any]:
    """What ``rotate_for_live_user`` does, as one PostgreSQL statement (one round trip where
    the read, the claim, the successor and the touch were four): data-modifying CTEs, which
    run once each, all on the statement's one snapshot. ``found`` reads what
    :data:`_FIND_FOR_USER` reads and locks the token's and the family's rows until commit;
    ``claimed`` marks the token used if it may rotate; ``added`` and ``touched`` follow only
    a claim. The main query returns the rows as found (the CTEs' changes are not visible to
    it), in :data:`_FIND_FOR_USER`'s order, and whether the claim took place.

    A concurrent rotation of the token (or revocation of the family) waits at ``found``'s
    lock until this transaction ends, then reads the rows as it left them: the token used,
    so that its claim finds nothing to do."""
    labelled = [
        *(column.label(f"t_{column.name}") for column in _TOKEN_COLUMNS),
        *(column.label(f"s_{column.name}") for column in _SESSION_COLUMNS),
        *(column.label(f"u_{column.name}") for column in USER_COLUMNS),
    ]
    found = (
        select(*labelled)
        .join_from(_TOKENS, _SESSIONS, _S.id == _T.session_id)
        .outerjoin(USERS, USERS.c.id == _S.user_id)
        .where(_T.token_hash == bindparam("old_hash"))
        .with_for_update(of=(_TOKENS, _SESSIONS))
        .cte("found")
    )
    # No parameter is named after a column: an UPDATE would take it for a value to SET.
    f, client_id = found.c, bindparam("of_client", type_=Text)
    now: BindParameter[float] = bindparam("now", type_=Seconds)
    may_rotate = and_(
        f.u_id.is_not(None),
        f.u_disabled.is_(false()),
        f.t_used_at.is_(None),
        f.s_revoked_at.is_(None),
        f.s_expires_at > now,
        f.s_last_used_at >= bindparam("active_since"),
        or_(client_id.is_(None), f.s_client_id == client_id),
    )
    claimed = (
        update(_TOKENS)
        .where(_T.token_hash == f.t_token_hash, may_rotate)
        .values(used_at=now)
        .returning(_T.session_id)
        .cte("claimed")
    )
    added = insert(_TOKENS).from_select(
        [_T.token_hash, _T.session_id, _T.issued_at],
        select(bindparam("successor_hash", type_=Text), claimed.c.session_id, now),
    )
    touched = update(_SESSIONS).where(_S.id == claimed.c.session_id).values(last_used_at=now)
    rotated = exists(select(claimed.c.session_id)).label("rotated")
    return select(*(f[column.name] for column in labelled), rotated).add_cte(
        added.cte("added"), touched.cte("touched")
    )


_ROTATE_IN_ONE_STATEMENT = _rotation_in_one_statement()
_TOUCH = (
    update(_SESSIONS)
    .where(_S.id == bindparam("session_id"))
    .values(last_used_at=bindparam("last_used_at"))
)


def _live(now: float | ColumnElement[float]) -> ColumnElement[bool]:
    return _S.revoked_at.is_(None) & (_S.expires_at > now)


# The winner of a rotation is whoever flips used_at from NULL: on PostgreSQL a concurrent UPDATE
# of the row waits for the first to commit and then re-checks "used_at IS NULL"; on SQLite
# writers are serialized. The family's liveness is checked in the same UPDATE.
_CLAIM = (
    update(_TOKENS)
    .where(
        _T.token_hash == bindparam("old_hash"),
        _T.used_at.is_(None),
        exists().where(_S.id == _T.session_id, _live(bindparam("now"))),
    )
    .values(used_at=bindparam("now"))
    .returning(_T.session_id)
)


def _revoke_by(column: Column[str]) -> Update:
    return (
        update(_SESSIONS)
        .where(column == bindparam("target"), _live(bindparam("now")))
        .values(revoked_at=bindparam("now"))
        .returning(*_SESSION_COLUMNS)
    )


_REVOKE_SESSION = _revoke_by(_S.id)
_REVOKE_USER = _revoke_by(_S.user_id)
_REVOKE_BROWSER_SESSION = _revoke_by(_S.browser_session_id)
_REVOKE_CLIENT = _revoke_by(_S.client_id)


def _session_values(session: LoginSession) -> dict[str, object]:
    return {
        "id": session.id,
        "user_id": session.user_id,
        "client_id": session.client_id,
        "scope": session.scope,
        "created_at": session.created_at,
        "last_used_at": session.last_used_at,
        "expires_at": session.expires_at,
        "revoked_at": session.revoked_at,
        "user_agent": session.user_agent,
        "address": session.address,
        "browser_session_id": session.browser_session_id,
        "audiences": json.dumps(list(session.audiences)) if session.audiences else None,
        "dpop_jkt": session.dpop_jkt,
    }


def _token_values(token: RefreshToken) -> dict[str, object]:
    return {
        "token_hash": token.token_hash,
        "session_id": token.session_id,
        "issued_at": token.issued_at,
        "used_at": token.used_at,
    }


def _session(row: Any) -> LoginSession:
    (
        session_id,
        user_id,
        client_id,
        scope,
        created_at,
        last_used_at,
        expires_at,
        revoked_at,
        user_agent,
        address,
        browser_session_id,
        audiences,
        dpop_jkt,
    ) = row
    return LoginSession(
        id=session_id,
        user_id=user_id,
        client_id=client_id,
        scope=scope,
        created_at=created_at,
        last_used_at=last_used_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
        user_agent=user_agent,
        address=address,
        browser_session_id=browser_session_id,
        audiences=tuple(json.loads(audiences)) if audiences else (),
        dpop_jkt=dpop_jkt,
    )


def _rotate(
    conn: Connection,
    token: RefreshToken,
    session: LoginSession,
    user_live: bool,
    successor_hash: str,
    now: float,
    active_since: float,
    client_id: str | None,
) -> Rotation:
    """The rest of a rotation, once the token and its family are read."""
    if (
        not user_live
        or (client_id is not None and session.client_id != client_id)
        or token.used_at is not None
        or not is_live(session, now)
        or session.last_used_at < active_since
    ):
        return Rotation(token, session, rotated=False)
    # A read without a lock is only a snapshot on PostgreSQL: the claim decides.
    if conn.execute(_CLAIM, {"old_hash": token.token_hash, "now": now}).first() is None:
        return Rotation(token, session, rotated=False)
    successor = RefreshToken(successor_hash, session.id, issued_at=now)
    conn.execute(_INSERT_TOKEN, _token_values(successor))
    conn.execute(_TOUCH, {"session_id": session.id, "last_used_at": now})
    return Rotation(token, session, rotated=True)


def _found(row: Any) -> tuple[RefreshToken, LoginSession, User | None]:
    """The token, its family and its user (None if none) of a row of :data:`_FIND_FOR_USER`."""
    user = None if row[_N_FAMILY] is None else user_record(row[_N_FAMILY:_N_FOUND])
    return _token(row[:_N_TOKEN]), _session(row[_N_TOKEN:_N_FAMILY]), user


def _token(row: Any) -> RefreshToken:
    token_hash, session_id, issued_at, used_at = row
    return RefreshToken(
        token_hash=token_hash, session_id=session_id, issued_at=issued_at, used_at=used_at
    )


class SQLSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, session: LoginSession, first_token: RefreshToken) -> None:
        check_family(first_token, session.id)
        session_values, token_values = _session_values(session), _token_values(first_token)

        def create(conn: Connection) -> None:
            conn.execute(_INSERT_SESSION, session_values)
            conn.execute(_INSERT_TOKEN, token_values)

        # Lost to a power failure, the new session only means a new login.
        await self._db.write(create, relaxed=True)

    async def get(self, session_id: str) -> LoginSession | None:
        def get(conn: Connection) -> LoginSession | None:
            row = conn.execute(_GET, {"session_id": session_id}).first()
            return None if row is None else _session(row)

        return await self._db.read(get)

    async def find_token(self, token_hash: str) -> tuple[RefreshToken, LoginSession] | None:
        def find(conn: Connection) -> tuple[RefreshToken, LoginSession] | None:
            row = conn.execute(_FIND_TOKEN, {"token_hash": token_hash}).first()
            if row is None:
                return None
            return _token(row[:_N_TOKEN]), _session(row[_N_TOKEN:_N_FAMILY])

        return await self._db.read(find)

    async def rotate(
        self,
        old_hash: str,
        successor_hash: str,
        *,
        now: float,
        active_since: float,
        client_id: str | None = None,
    ) -> Rotation | None:
        def rotate(conn: Connection) -> Rotation | None:
            row = conn.execute(_FIND_TOKEN, {"token_hash": old_hash}).first()
            if row is None:
                return None
            token, session = _token(row[:_N_TOKEN]), _session(row[_N_TOKEN:_N_FAMILY])
            return _rotate(conn, token, session, True, successor_hash, now, active_since, client_id)

        # Lost to a power failure, a rotation only means a new login: the client holds a
        # successor the database does not know.
        return await self._db.write(rotate, relaxed=True)

    async def rotate_for_live_user(
        self,
        old_hash: str,
        successor_hash: str,
        *,
        now: float,
        active_since: float,
        client_id: str | None = None,
        check: Callable[[LoginSession], None] | None = None,
    ) -> tuple[Rotation, User | None] | None:
        def rotate(conn: Connection) -> tuple[Rotation, User | None] | None:
            row = conn.execute(_FIND_FOR_USER, {"token_hash": old_hash}).first()
            if row is None:
                return None
            token, session, user = _found(row)
            if check is not None and (client_id is None or session.client_id == client_id):
                check(session)  # raising, it rolls the transaction back
            live = user is not None and not user.disabled
            rotation = _rotate(
                conn, token, session, live, successor_hash, now, active_since, client_id
            )
            return rotation, user

        params = {
            "old_hash": old_hash,
            "successor_hash": successor_hash,
            "now": now,
            "active_since": active_since,
            "of_client": client_id,
        }

        def rotate_in_one_statement(conn: Connection) -> tuple[Rotation, User | None] | None:
            row = conn.execute(_ROTATE_IN_ONE_STATEMENT, params).first()
            if row is None:
                return None
            token, session, user = _found(row)
            if check is not None and (client_id is None or session.client_id == client_id):
                check(session)  # raising, it rolls the rotation back
            return Rotation(token, session, rotated=row[-1]), user

        if self._db.dialect == "postgresql":
            return await self._db.write(rotate_in_one_statement, relaxed=True)
        return await self._db.write(rotate, relaxed=True)

    async def revoke(
        self,
        *,
        now: float,
        session_id: str | None = None,
        user_id: str | None = None,
        browser_session_id: str | None = None,
        client_id: str | None = None,
    ) -> list[LoginSession]:
        check_revoke_target(session_id, user_id, browser_session_id, client_id)
        if session_id is not None:
            stmt, params = _REVOKE_SESSION, {"target": session_id, "now": now}
        elif user_id is not None:
            stmt, params = _REVOKE_USER, {"target": user_id, "now": now}
        elif client_id is not None:
            stmt, params = _REVOKE_CLIENT, {"target": client_id, "now": now}
        else:
            stmt, params = _REVOKE_BROWSER_SESSION, {"target": browser_session_id, "now": now}

        def revoke(conn: Connection) -> list[LoginSession]:
            return [_session(row) for row in conn.execute(stmt, params)]

        revoked = await self._db.write(revoke)
        return sorted(revoked, key=lambda r: (r.created_at, r.id), reverse=True)

    async def list_for_user(self, user_id: str, *, now: float) -> Sequence[LoginSession]:
        stmt = (
            select(*_SESSION_COLUMNS)
            .where(_S.user_id == user_id, _live(now))
            .order_by(_S.created_at.desc(), _S.id.desc())
        )

        def list_(conn: Connection) -> list[LoginSession]:
            return [_session(row) for row in conn.execute(stmt)]

        return await self._db.read(list_)
