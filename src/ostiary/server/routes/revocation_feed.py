"""``/auth/revocations``: the revocation feed resource servers pull (the pull half of
revocation; :mod:`ostiary.server.routes.revocation_stream` is the push half)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ostiary.revocation.service import MAX_FEED_PAGE
from ostiary.server.dependencies import AppServices, FeedClaims
from ostiary.server.routes._render import no_store
from ostiary.server.schemas import RevocationEntry, RevocationFeedPage

router = APIRouter(prefix="/auth", tags=["sessions"])


@router.get("/revocations", response_model=RevocationFeedPage)
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
    feed = RevocationFeedPage(
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
