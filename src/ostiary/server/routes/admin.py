"""``/admin``: what operators read over HTTP. ``GET /admin/audit`` pages through the audit
trail. It wants a Bearer token for the admin audience with the ``admin`` scope and the ``admin``
role (:data:`~ostiary.server.dependencies.AdminClaims`): 401 for a token of another
audience, 403 without the scope or the role."""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ostiary.audit import event_line
from ostiary.server.dependencies import AdminClaims, AppServices
from ostiary.server.errors import NO_STORE
from ostiary.storage.records import AuditEvent

router = APIRouter(prefix="/admin", tags=["admin"])

MAX_AUDIT_PAGE: Final = 1000


def describe_event(event: AuditEvent) -> dict[str, Any]:
    """The JSON shape of an event, the same as its log line."""
    described: dict[str, Any] = json.loads(event_line(event))
    return described


@router.get("/audit")
async def audit_events(
    _claims: AdminClaims,
    services: AppServices,
    since: Annotated[int, Query(ge=0)] = 0,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = 100,
) -> JSONResponse:
    """Audit events after the cursor ``since``, oldest first; ask again with ``next``."""
    await services.audit.drain()  # what happened up to now, batched or not
    events = await services.storage.audit.query(
        since_seq=since, kind=kind, subject=subject, actor=actor, limit=limit
    )
    cursor = events[-1].seq if events else since
    body = {"events": [describe_event(e) for e in events], "next": cursor}
    return JSONResponse(body, headers=NO_STORE)
