"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database reachable and
migrated, a signing key present)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ostiary.errors import TemporarilyUnavailable
from ostiary.server.dependencies import AppServices
from ostiary.storage import StorageError
from ostiary.storage.sql import SQLStorage, is_up_to_date
from ostiary.wiring import key_services

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


@router.get("/readyz")
async def readyz(services: AppServices) -> JSONResponse:
    try:
        migrated = await _schema_is_current(services)
    except StorageError as exc:
        raise TemporarilyUnavailable("The database is unreachable.", detail=str(exc)) from None
    if not migrated:
        raise TemporarilyUnavailable("The database schema is not migrated.")
    if any(keys.ring.active is None for keys in key_services(services)):
        raise TemporarilyUnavailable("No signing key is active.")
    return JSONResponse({"status": "ready"}, headers={"Cache-Control": "no-store"})


async def _schema_is_current(services: AppServices) -> bool:
    storage = services.storage
    if not isinstance(storage, SQLStorage):  # memory storage: nothing to migrate
        return True
    return await is_up_to_date(storage.db)
