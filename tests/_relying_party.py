"""A relying party's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0
§2.5), as a plain ASGI app to run under a real uvicorn (:func:`tests._uvicorn.serve`): it
records each request and answers the statuses it is told to, for the tests of Back-Channel
Logout."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

LOGOUT_PATH: Final = "/backchannel-logout"


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the relying party saw it."""

    method: str
    path: str
    content_type: str
    form: dict[str, list[str]]

    @property
    def logout_token(self) -> str:
        (token,) = self.form["logout_token"]
        return token


class RelyingParty:
    """Answers each request with the next of ``statuses`` (200 when none are left), after
    ``delay`` seconds; while :attr:`open` is cleared, requests wait for it."""

    def __init__(self, statuses: Iterable[int] = (), *, delay: float = 0.0) -> None:
        self.received: list[Received] = []
        self.statuses = deque(statuses)
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        #: Requests wait until this is set (it is, unless a test clears it).
        self.open = threading.Event()
        self.open.set()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            status = self.statuses.popleft() if self.statuses else 200
        try:
            await asyncio.sleep(self.delay)
            if not self.open.is_set():
                await asyncio.to_thread(self.open.wait)
            self.received.append(
                Received(
                    method=scope["method"],
                    path=scope["path"],
                    content_type=headers.get("content-type", ""),
                    form=parse_qs(body.decode("ascii")),
                )
            )
        finally:
            with self._lock:
                self.in_flight -= 1
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"cache-control", b"no-store")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


@contextlib.contextmanager
def running_relying_party() -> Iterator[tuple[RelyingParty, str]]:
    """A relying party under a real uvicorn, and its base URL; answers it was told to hold
    are let go when it stops, so that the server never waits on it."""
    from tests._uvicorn import serve

    party = RelyingParty()
    try:
        with serve(party) as url:
            yield party, url
    finally:
        party.open.set()
