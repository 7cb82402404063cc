"""ClientStore on SQL: registered OAuth clients, their URI lists and sets as JSON arrays."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from ostiary.storage._checks import check_page
from ostiary.storage.records import Client, ClientAuthMethod
from ostiary.storage.sql.engine import Database
from ostiary.storage.sql.models import ClientRow

_CLIENTS = cast(Table, ClientRow.__table__)
_C = _CLIENTS.c
# The columns in the order of Client's fields: _record() unpacks rows by position.
_SELECT = select(
    _C.id,
    _C.name,
    _C.auth_method,
    _C.secret_hash,
    _C.jwks,
    _C.redirect_uris,
    _C.post_logout_redirect_uris,
    _C.grant_types,
    _C.scopes,
    _C.audiences,
    _C.first_party,
    _C.created_at,
    _C.updated_at,
    _C.backchannel_logout_uri,
    _C.backchannel_logout_session_required,
    _C.dpop_bound_access_tokens,
)
_BY_ID = _SELECT.where(_C.id == bindparam("client_id"))
_LIST = _SELECT.order_by(_C.created_at, _C.id)
_INSERT = insert(_CLIENTS)
_DELETE = delete(_CLIENTS).where(_C.id == bindparam("client_id")).returning(_C.id)


def _columns(client: Client) -> dict[str, object]:
    return {
        "name": client.name,
        "auth_method": client.auth_method.value,
        "secret_hash": client.secret_hash,
        "jwks": client.jwks,
        # Lists keep the client's order; sets are sorted so that equal sets store equal text.
        "redirect_uris": json.dumps(list(client.redirect_uris)),
        "post_logout_redirect_uris": json.dumps(list(client.post_logout_redirect_uris)),
        "grant_types": json.dumps(sorted(client.grant_types)),
        "scopes": json.dumps(sorted(client.scopes)),
        "audiences": json.dumps(sorted(client.audiences)),
        "first_party": client.first_party,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
    }


def _record(row: Any) -> Client:
    (
        client_id,
        name,
        auth_method,
        secret_hash,
        jwks,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        audiences,
        first_party,
        created_at,
        updated_at,
        backchannel_logout_uri,
        backchannel_logout_session_required,
        dpop_bound_access_tokens,
    ) = row
    return Client(
        id=client_id,
        name=name,
        auth_method=ClientAuthMethod(auth_method),
        secret_hash=secret_hash,
        jwks=jwks,
        redirect_uris=tuple(json.loads(redirect_uris)),
        post_logout_redirect_uris=tuple(json.loads(post_logout_redirect_uris)),
        grant_types=frozenset(json.loads(grant_types)),
        scopes=frozenset(json.loads(scopes)),
        audiences=frozenset(json.loads(audiences)),
        first_party=first_party,
        created_at=created_at,
        updated_at=updated_at,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
        dpop_bound_access_tokens=dpop_bound_access_tokens,
    )


class SQLClientStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, client: Client) -> None:
        values = {"id": client.id, **_columns(client)}

        def create(conn: Connection) -> None:
            conn.execute(_INSERT, values)

        await self._db.write(create)

    async def get(self, client_id: str) -> Client | None:
        def get(conn: Connection) -> Client | None:
            row = conn.execute(_BY_ID, {"client_id": client_id}).first()
            return None if row is None else _record(row)

        return await self._db.read(get)

    async def update(self, client: Client) -> None:
        stmt = update(_CLIENTS).where(_C.id == client.id).values(**_columns(client))

        def update_(conn: Connection) -> None:
            conn.execute(stmt)

        await self._db.write(update_)

    async def delete(self, client_id: str) -> bool:
        def delete_(conn: Connection) -> bool:
            return conn.execute(_DELETE, {"client_id": client_id}).first() is not None

        return await self._db.write(delete_)

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[Client]:
        check_page(offset=offset, limit=limit)
        stmt = _LIST.offset(offset).limit(limit)

        def list_(conn: Connection) -> list[Client]:
            return [_record(row) for row in conn.execute(stmt)]

        return await self._db.read(list_)
