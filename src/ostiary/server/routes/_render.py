"""Response helpers shared by the routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ostiary.authn.first_party import TokenPair
from ostiary.server.errors import NO_STORE
from ostiary.server.schemas import Account, TokenResponse
from ostiary.storage.records import User


def no_store(model: BaseModel | list[Any], *, status_code: int = 200) -> JSONResponse:
    """JSON that no cache may keep (RFC 6749 §5.1 for token responses; also for personal
    data)."""
    content = model.model_dump() if isinstance(model, BaseModel) else model
    return JSONResponse(content, status_code=status_code, headers=NO_STORE)


def token_response(pair: TokenPair, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """RFC 6749 §5.1; ``token_type`` is ``DPoP`` for an access token bound to a key (RFC 9449
    §5). ``headers`` are added (``DPoP-Nonce``)."""
    response = no_store(
        TokenResponse(
            access_token=pair.access.token,
            token_type=pair.token_type,
            expires_in=pair.access.expires_in,
            refresh_token=pair.refresh_token,
            refresh_token_expires_in=pair.refresh_expires_in,
            scope=pair.scope,
        )
    )
    response.headers.update(headers or {})
    return response


def account(user: User) -> Account:
    return Account(
        id=user.id,
        username=user.username,
        roles=sorted(user.roles),
        created_at=int(user.created_at),
    )
