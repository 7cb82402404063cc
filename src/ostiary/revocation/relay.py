"""Revocations between processes and instances: a notice wakes every process, which then reads
the store from its cursor (docs/deployment.md, "How a revocation reaches every instance").

The store is the source of truth. A notice only says "read now"; a lost one is made up for by
the next notice or the periodic poll. The same channel says when the signing keys changed
(:data:`~ostiary.storage.protocols.KEYS_CHANGED`), so that every process reads them again and
serves the same JWKS; a lost one of those is made up for by each process's periodic check.
While the channel is down the relay polls every ``fallback_poll`` seconds itself and
reconnects with a doubling back-off, logging once each time the channel goes down or comes
back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from ostiary.failures import log_failure
from ostiary.storage.protocols import KEYS_CHANGED, RevocationNotices

log = logging.getLogger("ostiary.revocations")

#: How long a notice may take to send before it is given up (the poll makes up for it).
PUBLISH_TIMEOUT: Final = 2.0
#: The first and the longest wait before subscribing again after the channel was lost.
BACKOFF_MIN: Final = 0.5
BACKOFF_MAX: Final = 30.0

#: Reads the store: ``catch_up(seq)`` for a notice (a no-op if already past ``seq``),
#: ``catch_up(None)`` to read whatever is new.
CatchUp = Callable[[int | None], Awaitable[None]]
#: Reads the signing keys again, at a :data:`KEYS_CHANGED` notice.
KeysChanged = Callable[[], Awaitable[object]]


class RevocationRelay:
    """Announces this process's revocations on a :class:`RevocationNotices` channel and
    listens to the others'. :meth:`announce` never waits; :meth:`run` is a background task."""

    def __init__(
        self,
        notices: RevocationNotices,
        *,
        name: str,
        fallback_poll: float,
        backoff_min: float = BACKOFF_MIN,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        """``name`` says which channel in the logs (never a secret: no password in it)."""
        if fallback_poll <= 0 or not 0 < backoff_min <= backoff_max:
            raise ValueError("fallback_poll and the back-off must be positive")
        self.notices = notices
        self.name = name
        self._fallback_poll = fallback_poll
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._sending: set[asyncio.Task[None]] = set()
        #: None until the first subscription succeeds or fails.
        self.up: bool | None = None

    # --- publishing ------------------------------------------------------------------------

    def announce(self, seq: int) -> None:
        """Send a notice for ``seq`` in the background: a revocation never waits for the
        channel, and a failure to send is only logged (the others' poll will find it)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._publish(seq), name="ostiary-revocation-notice")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def announce_keys(self) -> None:
        """Tell the other processes, in the background, that the signing keys changed."""
        self.announce(KEYS_CHANGED)

    async def _publish(self, seq: int) -> None:
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await self.notices.publish(seq)
        except Exception as exc:
            log.debug("revocation notice %d not sent on %s: %s", seq, self.name, exc)

    async def flush(self) -> None:
        """Wait for the notices being sent (each bounded by ``PUBLISH_TIMEOUT``)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def close(self) -> None:
        """Finish sending, then release the channel."""
        await self.flush()
        await self.notices.close()

    # --- listening -------------------------------------------------------------------------

    async def run(self, catch_up: CatchUp, *, keys_changed: KeysChanged | None = None) -> None:
        """Listen until cancelled: catch up at each subscription and each revocation notice,
        call ``keys_changed`` at each keys notice; while the channel is down, poll every
        ``fallback_poll`` seconds and subscribe again after a doubling back-off."""
        delay = self._backoff_min
        while True:
            try:
                listening = self.notices.listen()
                async with contextlib.aclosing(listening):
                    async for seq in listening:
                        if seq == KEYS_CHANGED:
                            if keys_changed is not None:
                                await _guarded_keys(keys_changed)
                            continue
                        if seq == 0:
                            self._state(up=True)
                            delay = self._backoff_min
                        await _guarded(catch_up, seq or None)
                raise ConnectionError("the channel ended")  # noqa: TRY301
            except Exception as exc:  # CancelledError is not an Exception: it ends the task
                self._state(up=False, reason=exc)
            await self._poll_for(delay, catch_up)
            delay = min(delay * 2, self._backoff_max)

    async def _poll_for(self, seconds: float, catch_up: CatchUp) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(self._fallback_poll, left))
            await _guarded(catch_up, None)

    def _state(self, *, up: bool, reason: Exception | None = None) -> None:
        if up == self.up:
            return
        self.up = up
        if up:
            log.info("revocation notices: listening on %s", self.name)
        else:
            log.warning(
                "revocation notices unavailable on %s (%s: %s); polling every %s s until "
                "they are back",
                self.name,
                type(reason).__name__,
                str(reason).splitlines()[0][:200] if str(reason) else "",
                self._fallback_poll,
            )


async def _guarded(catch_up: CatchUp, seq: int | None) -> None:
    """A failed read of the store is the store's trouble, not the channel's: log and go on."""
    try:
        await catch_up(seq)
    except Exception:
        log_failure(log, "revocation sync failed; retrying at the next notice or poll")


async def _guarded_keys(keys_changed: KeysChanged) -> None:
    try:
        await keys_changed()
    except Exception:
        log_failure(log, "reading the signing keys failed; retrying at the next check")
