"""``/auth/sessions``: the user's sessions, listed and ended one by one."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ostiary.server.dependencies import AccountClaims, AppServices
from ostiary.server.errors import NO_STORE
from ostiary.server.routes._render import no_store
from ostiary.server.schemas import SessionInfo

router = APIRouter(prefix="/auth", tags=["sessions"])


@router.get("/sessions", response_model=list[SessionInfo])
async def list_sessions(claims: AccountClaims, services: AppServices) -> JSONResponse:
    """The caller's live sessions, newest first: each login or client grant (``kind``
    ``"app"``, a refresh family) and each browser signed in for single sign-on (``kind``
    ``"browser"``). Any of them ends with ``DELETE /auth/sessions/{id}``."""
    sessions = await services.auth.sessions(claims)
    families = [
        SessionInfo(
            id=s.id,
            kind="app",
            client_id=s.client_id,
            created_at=int(s.created_at),
            last_used_at=int(s.last_used_at),
            expires_at=int(s.expires_at),
            user_agent=s.user_agent,
            address=s.address,
            current=s.id == claims.sid,
        )
        for s in sessions.families
    ]
    browsers = [
        SessionInfo(
            id=b.id,
            kind="browser",
            client_id=None,
            created_at=int(b.created_at),
            last_used_at=int(b.auth_time),
            expires_at=int(b.expires_at),
            user_agent=None,
            address=None,
            current=False,
        )
        for b in sessions.browsers
    ]
    listed = sorted(families + browsers, key=lambda s: s.created_at, reverse=True)
    return no_store([s.model_dump() for s in listed])


@router.delete("/sessions/{session_id}", status_code=204)
async def end_session(session_id: str, claims: AccountClaims, services: AppServices) -> Response:
    """End one of the caller's sessions, an app's or a browser's (404 for any id that is not
    one)."""
    await services.auth.end_session(claims, session_id)
    return Response(status_code=204, headers=NO_STORE)
