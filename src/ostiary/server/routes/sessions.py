"""``/auth/sessions`` (the user's logins) and ``/auth/revocations`` (the feed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from ostiary.server.dependencies import AppServices, Claims
from ostiary.server.errors import NO_STORE
from ostiary.server.routes._render import no_store
from ostiary.server.schemas import RevocationEntry, RevocationFeed, SessionInfo
from ostiary.tokens.revocation import MAX_FEED_PAGE

router = APIRouter(prefix="/auth", tags=["sessions"])


@router.get("/sessions", response_model=list[SessionInfo])
async def list_sessions(claims: Claims, services: AppServices) -> JSONResponse:
    """The caller's live sessions, newest first."""
    sessions = await services.auth.sessions(claims)
    return no_store(
        [
            SessionInfo(
                id=s.id,
                created_at=int(s.created_at),
                last_used_at=int(s.last_used_at),
                expires_at=int(s.expires_at),
                user_agent=s.user_agent,
                address=s.address,
                current=s.id == claims.sid,
            ).model_dump()
            for s in sessions
        ]
    )


@router.delete("/sessions/{session_id}", status_code=204)
async def end_session(session_id: str, claims: Claims, services: AppServices) -> Response:
    """End one of the caller's sessions (404 for any id that is not one)."""
    await services.auth.end_session(claims, session_id)
    return Response(status_code=204, headers=NO_STORE)


@router.get("/revocations", response_model=RevocationFeed)
async def revocation_feed(
    _claims: Claims,
    services: AppServices,
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_FEED_PAGE)] = MAX_FEED_PAGE,
) -> JSONResponse:
    """Access-token revocations after the cursor ``since``, for resource servers to feed to
    their ``TokenVerifier``; ask again with ``next``."""
    entries, cursor = await services.auth.revocation_feed(since, limit)
    feed = RevocationFeed(
        revocations=[
            RevocationEntry(
                kind=e.kind.value,
                value=e.value,
                not_before=e.not_before,
                expires_at=e.expires_at,
                seq=e.seq,
            )
            for e in entries
        ],
        next=cursor,
    )
    return no_store(feed)
