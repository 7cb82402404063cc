"""The fan-out behind ``GET /auth/revocations/stream``: bounded in subscribers and backlog,
each entry once, and closed at shutdown."""

from __future__ import annotations

import pytest

from ostiary.revocation.broadcast import (
    RevocationBroadcast,
    StreamsFull,
    SubscriptionEnded,
)
from ostiary.storage.records import Revocation, RevocationKind


def _entry(seq: int) -> Revocation:
    return Revocation(RevocationKind.SESSION, f"s-{seq}", 1.0, 2.0, seq=seq)


async def test_each_subscription_gets_each_entry_once() -> None:
    broadcast = RevocationBroadcast()
    one, two = broadcast.subscribe(), broadcast.subscribe()
    broadcast.publish(_entry(1))
    broadcast.publish(_entry(1))  # seen again by the sync: not pushed again
    broadcast.publish(_entry(2))
    for subscription in (one, two):
        assert (await subscription.next(1.0)) == _entry(1)
        assert (await subscription.next(1.0)) == _entry(2)
        assert await subscription.next(0.01) is None  # a heartbeat's turn


async def test_the_cap_refuses_more_subscribers_until_one_leaves() -> None:
    broadcast = RevocationBroadcast(max_subscribers=1)
    first = broadcast.subscribe()
    with pytest.raises(StreamsFull):
        broadcast.subscribe()
    first.close()
    broadcast.subscribe()


async def test_a_slow_consumer_is_dropped_not_buffered() -> None:
    broadcast = RevocationBroadcast(backlog=2)
    slow = broadcast.subscribe()
    for seq in (1, 2, 3):
        broadcast.publish(_entry(seq))
    with pytest.raises(SubscriptionEnded) as ended:
        await slow.next(1.0)
    assert ended.value.why == "too slow"
    assert len(broadcast) == 0


async def test_closing_ends_every_subscription_and_refuses_new_ones() -> None:
    broadcast = RevocationBroadcast()
    waiting = broadcast.subscribe()
    broadcast.close()
    with pytest.raises(SubscriptionEnded):
        await waiting.next(10.0)
    with pytest.raises(StreamsFull):
        broadcast.subscribe()
