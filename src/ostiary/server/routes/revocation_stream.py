"""``GET /auth/revocations/stream``: the revocation feed pushed as Server-Sent Events.

The same readers as ``GET /auth/revocations`` (a resource service's client-credentials token,
``FeedClaims``). A stream first catches up from the store after its cursor (``Last-Event-ID``,
or ``since``), then pushes each entry as soon as this process learns of it: written here, or
pulled from the store by the revocation sync. Each event's ``id`` is the entry's ``seq``, so a
reconnecting client resumes where it stopped. A comment line every
``revocation_stream_heartbeat_seconds`` keeps idle streams open through proxies.

Streams end, and their clients reconnect, when the process shuts down, when the reader falls
too far behind, when the reader's token expires, and after :data:`MAX_STREAM_SECONDS` (so that
a server that only waits for open responses at shutdown waits a bounded time).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Query
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ostiary.errors import InvalidRequest, TemporarilyUnavailable
from ostiary.revocation.broadcast import StreamsFull, Subscription, SubscriptionEnded
from ostiary.revocation.service import MAX_FEED_PAGE, Revocations
from ostiary.server.dependencies import AppServices, FeedClaims
from ostiary.storage.records import Revocation
from ostiary.wiring import Services

router = APIRouter(prefix="/auth", tags=["sessions"])

MAX_STREAM_SECONDS: Final = 900.0
#: What a client waits before reconnecting, in milliseconds (the SSE ``retry`` field).
RETRY_MS: Final = 2000
STREAM_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: pass each event on at once
}


class EventStream(StreamingResponse):
    """``text/event-stream`` that lets go of its subscription however the response ends."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes], subscription: Subscription) -> None:
        super().__init__(events, headers=STREAM_HEADERS, media_type=self.media_type)
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.subscription.close()


@router.get("/revocations/stream", response_class=EventStream, status_code=200)
async def revocation_stream(
    claims: FeedClaims,
    services: AppServices,
    since: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventStream:
    """Revocations after the cursor, then each new one as it happens, as Server-Sent Events
    (``event: revocation``, ``id:`` the entry's ``seq``, ``data:`` the entry as in
    ``GET /auth/revocations``). ``Last-Event-ID`` (sent by a reconnecting client) takes
    precedence over ``since``. 503 with ``Retry-After`` when the process has as many streams
    open as it allows."""
    cursor = _cursor(last_event_id, since)
    try:
        subscription = services.revocations.broadcast.subscribe()
    except StreamsFull:
        raise TemporarilyUnavailable(
            "Too many revocation streams are open; try again later.",
            detail="revocation_stream_max_clients reached",
        ) from None
    clock = services.oauth.clock
    lifetime = min(MAX_STREAM_SECONDS, max(0.0, claims.exp - clock.now()))
    events = _events(
        services.revocations,
        subscription,
        cursor,
        heartbeat=services.settings.revocation_stream_heartbeat_seconds,
        lifetime=lifetime,
    )
    return EventStream(events, subscription)


def end_streams(services: Services) -> None:
    """End every open stream (at shutdown: a server waits for open responses to finish)."""
    services.revocations.broadcast.close()


def _cursor(last_event_id: str | None, since: int) -> int:
    if last_event_id is None or not last_event_id.strip():
        return since
    text = last_event_id.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidRequest("Last-Event-ID must be a revocation's seq.")
    return int(text)


async def _events(
    revocations: Revocations,
    subscription: Subscription,
    cursor: int,
    *,
    heartbeat: float,
    lifetime: float,
) -> AsyncIterator[bytes]:
    # Subscribed before catching up: an entry that arrives meanwhile is queued, not missed.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
    while True:
        entries, cursor = await revocations.feed(cursor)
        for entry in entries:
            yield _event(entry)
        if len(entries) < MAX_FEED_PAGE:
            break
    caught_up = cursor
    while (remaining := deadline - loop.time()) > 0:
        try:
            pushed = await subscription.next(min(heartbeat, remaining))
        except SubscriptionEnded:
            return
        if pushed is None:
            yield b": heartbeat\n\n"
        elif pushed.seq > caught_up:
            yield _event(pushed)


def _event(entry: Revocation) -> bytes:
    data: dict[str, Any] = {
        "kind": entry.kind.value,
        "value": entry.value,
        "not_before": entry.not_before,
        "expires_at": entry.expires_at,
        "seq": entry.seq,
    }
    body = json.dumps(data, separators=(",", ":"))
    return f"id: {entry.seq}\nevent: revocation\ndata: {body}\n\n".encode()
