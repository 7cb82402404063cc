"""Pushing revocations to the streams of this process (``GET /auth/revocations/stream``).

:class:`~ostiary.revocation.service.Revocations` publishes every entry it learns of, written here
or pulled from the store; each open stream holds a :class:`Subscription`. Everything is
bounded: the number of subscriptions, each one's backlog (a consumer that falls behind is
dropped, and catches up from the store with its cursor when it comes back), and the memory of
which entries were already published (an entry published twice is harmless: applying a
revocation again changes nothing).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Final

from ostiary.storage.records import Revocation

DEFAULT_MAX_SUBSCRIBERS: Final = 100
DEFAULT_BACKLOG: Final = 1000
_RECENT: Final = 4096  # seqs remembered so that an entry seen again is not pushed again


class StreamsFull(Exception):
    """As many subscriptions as allowed are open."""


class SubscriptionEnded(Exception):
    """The subscription was closed: the process shuts down, or its consumer fell behind."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Subscription:
    """One consumer's queue of new entries; :meth:`next` waits for the next one."""

    def __init__(self, broadcast: RevocationBroadcast, *, backlog: int) -> None:
        self._broadcast = broadcast
        self._backlog = backlog
        self._entries: deque[Revocation] = deque()
        self._wake = asyncio.Event()
        self._ended: str | None = None

    async def next(self, timeout: float) -> Revocation | None:
        """The next entry, or ``None`` after ``timeout`` seconds without one (time for a
        heartbeat). Raises :class:`SubscriptionEnded` once closed."""
        if not self._entries and self._ended is None:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return None
        if self._ended is not None:
            raise SubscriptionEnded(self._ended)
        return self._entries.popleft() if self._entries else None

    def close(self) -> None:
        self.end("closed")

    def end(self, why: str) -> None:
        if self._ended is None:
            self._ended = why
            self._entries.clear()
        self._wake.set()
        self._broadcast.discard(self)

    def offer(self, entry: Revocation) -> None:
        if self._ended is not None:
            return
        if len(self._entries) >= self._backlog:
            self.end("too slow")
            return
        self._entries.append(entry)
        self._wake.set()


class RevocationBroadcast:
    """Fans entries out to at most ``max_subscribers`` subscriptions of one event loop."""

    def __init__(
        self, *, max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS, backlog: int = DEFAULT_BACKLOG
    ) -> None:
        if max_subscribers < 0 or backlog < 1:
            raise ValueError("max_subscribers must not be negative, backlog must be positive")
        self.max_subscribers = max_subscribers
        self._backlog = backlog
        self._subscriptions: set[Subscription] = set()
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._closed = False

    def __len__(self) -> int:
        return len(self._subscriptions)

    def subscribe(self) -> Subscription:
        """A new subscription; :class:`StreamsFull` when at the cap or closed."""
        if self._closed or len(self._subscriptions) >= self.max_subscribers:
            raise StreamsFull
        subscription = Subscription(self, backlog=self._backlog)
        self._subscriptions.add(subscription)
        return subscription

    def discard(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, entry: Revocation) -> None:
        """Offer ``entry`` to every subscription, unless it was published lately."""
        if entry.seq in self._recent:
            return
        self._recent[entry.seq] = None
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        for subscription in list(self._subscriptions):
            subscription.offer(entry)

    def close(self) -> None:
        """End every subscription and refuse new ones (the process shuts down)."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.end("shutting down")
