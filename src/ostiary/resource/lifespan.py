"""Following the revocation stream for as long as a Starlette or FastAPI app runs.

Imports no framework: it wraps ``app.router.lifespan_context``, the app's own lifespan (the
``lifespan=`` it was built with, or its startup and shutdown handlers), which keeps running
inside.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ostiary.resource.stream import RevocationStream

STATE_ATTR = "ostiary_revocations"


def follow_revocations(app: Any, stream: RevocationStream) -> None:
    """Start ``stream`` when ``app`` starts and stop it when it shuts down; the app's own
    lifespan runs inside. ``app.state.ostiary_revocations`` is the stream (its ``state`` is
    for a health endpoint)."""
    router = app.router
    inner = router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        stream.start()
        try:
            async with inner(app_) as state:
                yield state
        finally:
            await stream.stop()

    router.lifespan_context = lifespan
    setattr(app.state, STATE_ATTR, stream)
