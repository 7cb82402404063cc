"""``/auth/sessions`` (the user's logins) and ``/auth/revocations`` (the feed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from ostiary.server.dependencies import AccountClaims, AppServices, FeedClaims
from ostiary.server.errors import NO_STORE
from ostiary.server.routes._render import no_store
from ostiary.server.schemas import RevocationEntry, RevocationFeed, SessionInfo
from ostiary.tokens.revocation import MAX_FEED_PAGE

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


@router.get("/revocations", response_model=RevocationFeed)
async def revocation_feed(
    _claims: FeedClaims,
    services: AppServices,
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_FEED_PAGE)] = MAX_FEED_PAGE,
) -> JSONResponse:
    """Access-token revocations after the cursor ``since``, for resource servers to feed to
    their ``TokenVerifier``; ask again with ``next``. For client-credentials tokens of the
    feed's audience (``{issuer}/auth/revocations``) with the ``revocations:read`` scope."""
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
