"""Following the issuer's revocation stream (``GET /auth/revocations/stream``, Server-Sent
Events) into a verifier, so that a logout reaches a resource service within moments and no
one has to write a polling loop.

:class:`RevocationStream` keeps one connection open and applies each event as
:class:`~ostiary.resource.RevocationFeed` would. When the connection fails it reconnects with
exponential back-off and jitter, resuming from its cursor (``Last-Event-ID``), and meanwhile
polls the feed (``GET /auth/revocations``) so that revocations still arrive. A stream that is
down never fails a request: the verifier keeps verifying with what it knows; the state says
so (:attr:`RevocationStream.state`, for health checks) and the log says so once per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from ostiary.errors import OstiaryError
from ostiary.resource.feed import RevocationFeed
from ostiary.resource.verifier import TokenVerifier

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("ostiary.resource.stream")

STREAM_SUFFIX: Final = "/stream"
_MAX_EVENT_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class StreamState:
    """What a health check reports. Times are the verifier's clock's (epoch seconds)."""

    #: The stream is open now.
    connected: bool
    #: The ``seq`` of the last revocation applied (``Last-Event-ID`` of the next connection).
    cursor: int
    #: When the last revocation arrived (by the stream or a poll), or ``None``.
    last_event_at: float | None
    #: Seconds since the issuer was last heard from (an event, a heartbeat, a successful
    #: poll): how stale the revocations known here may be. ``None`` before the first contact.
    lag: float | None
    #: Why the stream or the fallback poll last failed, or ``None``.
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Refused(Exception):
    """The issuer answered, but not with an event stream."""


class RevocationStream:
    """Keeps ``verifier`` in step with the issuer's revocation stream at ``url``
    (``https://auth.example.com/auth/revocations/stream``).

    ``auth`` authenticates both the stream and the fallback feed (``feed_url``: ``url``
    without ``/stream`` by default): a client-credentials token of the feed's audience with
    ``revocations:read``. No event nor heartbeat for ``idle_timeout`` seconds counts as a
    broken connection. Reconnects wait ``backoff_initial`` doubling up to ``backoff_max``
    seconds, half of it random; while the stream is down the feed is polled every
    ``poll_interval`` seconds.
    """

    def __init__(
        self,
        url: str,
        verifier: TokenVerifier,
        *,
        auth: httpx.Auth | None = None,
        feed_url: str | None = None,
        connect_timeout: float = 10.0,
        idle_timeout: float = 45.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        poll_interval: float = 5.0,
        max_token_lifetime: float = 86_400.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not 0 < backoff_initial <= backoff_max or poll_interval <= 0 or idle_timeout <= 0:
            raise ValueError("timeouts and back-off must be positive, initial <= max")
        if feed_url is None:
            if not url.endswith(STREAM_SUFFIX):
                raise ValueError("give feed_url= for a stream URL not ending in /stream")
            feed_url = url.removesuffix(STREAM_SUFFIX)
        self.url = url
        self.verifier = verifier
        self.feed = RevocationFeed(
            feed_url,
            verifier,
            auth=auth,
            timeout=connect_timeout,
            max_token_lifetime=max_token_lifetime,
            transport=transport,
        )
        import httpx  # here: a process that never follows a stream never loads it

        self._auth = auth
        self._timeout = httpx.Timeout(connect_timeout, read=idle_timeout)
        self._transport = transport
        self._backoff = (backoff_initial, backoff_max)
        self._poll_interval = poll_interval
        self._max_lifetime = max_token_lifetime
        self._random = random.Random()
        self._connected: bool | None = None  # unknown until the first attempt: then logged
        self._last_event_at: float | None = None
        self._last_seen_at: float | None = None
        self._last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._attempt = 0

    # --- state -----------------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        return self.feed.cursor

    @property
    def state(self) -> StreamState:
        now = self.verifier.clock.now()
        seen = self._last_seen_at
        return StreamState(
            connected=bool(self._connected),
            cursor=self.feed.cursor,
            last_event_at=self._last_event_at,
            lag=None if seen is None else max(0.0, now - seen),
            last_error=self._last_error,
        )

    # --- running ---------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Follow the stream in a task of the running loop (until :meth:`stop`)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="ostiary-revocation-stream")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_connected(False, None)

    async def __aenter__(self) -> RevocationStream:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> BackgroundStream:
        """Follow the stream in a thread of its own with its own event loop, for synchronous
        apps (Flask, Django): stop it with ``.stop()`` (registered with ``atexit`` by the
        Flask extension)."""
        background = BackgroundStream(self)
        background.start()
        return background

    async def run(self) -> None:
        """Follow the stream until cancelled: connect, apply events, reconnect."""
        import httpx

        async with httpx.AsyncClient(
            auth=self._auth, timeout=self._timeout, transport=self._transport
        ) as client:
            while True:
                try:
                    await self._listen(client)
                    self._attempt = 0  # the issuer ended the stream: reconnect at once
                except Exception as exc:  # whatever it is, the loop must go on
                    self._attempt += 1
                    self._set_connected(False, _describe(exc))
                await self._wait(self._delay(self._attempt))

    async def _listen(self, client: httpx.AsyncClient) -> None:
        """One connection, until the issuer ends it or it breaks."""
        headers = {"Accept": "text/event-stream", "Last-Event-ID": str(self.feed.cursor)}
        async with client.stream("GET", self.url, headers=headers) as response:
            kind = response.headers.get("content-type", "")
            if response.status_code != 200 or not kind.startswith("text/event-stream"):
                raise _Refused(f"HTTP {response.status_code} ({kind or 'no content type'})")
            self._attempt = 0
            self._set_connected(True, None)
            self._seen()
            await self._read(response)

    async def _read(self, response: httpx.Response) -> None:
        """Dispatch each event (RFC-less but WHATWG's SSE format) until the stream ends."""
        data: list[str] = []
        event, size = "", 0
        async for line in response.aiter_lines():
            self._seen()
            if not line:
                if data and event in ("", "revocation"):
                    self._apply("\n".join(data))
                data, event, size = [], "", 0
            elif line.startswith(":"):
                self.verifier.revocations.purge(
                    self.verifier.clock.now(), max_token_lifetime=self._max_lifetime
                )
            else:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                size += len(value)
                if size > _MAX_EVENT_BYTES:
                    raise _Refused("an event over 64 KiB")
                if field == "data":
                    data.append(value)
                elif field == "event":
                    event = value

    def _apply(self, text: str) -> None:
        try:
            entry: Any = json.loads(text)
            seq = int(entry["seq"])
        except (ValueError, TypeError, KeyError):
            log.warning("skipping a malformed revocation event")
            return
        self.feed.apply(entry)
        self.feed.cursor = max(self.feed.cursor, seq)
        self._last_event_at = self.verifier.clock.now()

    async def _wait(self, delay: float) -> None:
        """Sleep ``delay`` seconds; while the stream is down, poll the feed meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while (remaining := deadline - loop.time()) > 0:
            if not self._connected:
                await self._poll()
                remaining = deadline - loop.time()
            await asyncio.sleep(max(0.0, min(remaining, self._poll_interval)))

    async def _poll(self) -> None:
        try:
            applied = await self.feed.poll()
        except OstiaryError as exc:
            self._last_error = f"feed: {exc.detail or exc.description}"[:300]
            return
        self._seen()
        if applied:
            self._last_event_at = self.verifier.clock.now()

    def _delay(self, attempt: int) -> float:
        initial, ceiling = self._backoff
        if attempt == 0:
            return self._random.uniform(0, initial)
        step = min(ceiling, initial * 2.0 ** min(attempt - 1, 30))
        return step / 2 + self._random.uniform(0, step / 2)

    def _seen(self) -> None:
        self._last_seen_at = self.verifier.clock.now()

    def _set_connected(self, connected: bool, error: str | None) -> None:
        if error is not None:
            self._last_error = error
        if connected == self._connected:
            return
        self._connected = connected
        if connected:
            log.info("revocation stream connected: %s (from seq %d)", self.url, self.cursor)
        elif error is not None:
            log.warning(
                "revocation stream down: %s (%s); tokens are still verified, revocations are "
                "polled from %s until it is back",
                self.url,
                error,
                self.feed.url,
            )


class BackgroundStream:
    """A :class:`RevocationStream` followed in a daemon thread with an event loop of its own."""

    def __init__(self, stream: RevocationStream) -> None:
        self.stream = stream
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(
            target=self._main, name="ostiary-revocation-stream", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop following and wait (at most ``timeout`` seconds) for the thread to end."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(task.cancel)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self.stream.run())
            self._ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
            self.stream._set_connected(False, None)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
