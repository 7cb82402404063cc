"""The rate-limit counters in the SQL database (``SQLRateLimitCounters``): a ``limits`` async
storage shared by the worker processes of ``ostiary serve --workers N`` when there is no
Redis. Two opened storages on one database stand for two processes (each has its own pool,
and on SQLite its own writer thread and connections)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from limits import parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from ostiary.authn.throttle import Throttle, ThrottlePolicy
from ostiary.clock import FrozenClock
from ostiary.errors import RateLimited
from ostiary.storage import open_storage
from ostiary.storage.sql import SQLStorage
from ostiary.storage.sql.counters import SQLRateLimitCounters

from .conftest import open_empty, warm_up

#: A day-long window: a test never straddles a window's edge in practice, and even then the
#: weighted count keeps the limit within one.
DAILY = parse("10/day")


@pytest.fixture
async def stores(sql_url: str) -> AsyncIterator[tuple[SQLStorage, SQLStorage]]:
    """Two storages on one emptied database: two worker processes."""
    first = await open_empty(sql_url)
    second = await open_storage(sql_url)
    assert isinstance(first, SQLStorage) and isinstance(second, SQLStorage)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def counters(storage: SQLStorage) -> SQLRateLimitCounters:
    return SQLRateLimitCounters(storage.db)


async def test_a_counter_counts_and_is_seen_by_the_other_process(
    stores: tuple[SQLStorage, SQLStorage],
) -> None:
    one, other = counters(stores[0]), counters(stores[1])
    assert await one.get("k") == 0
    assert await one.incr("k", 60) == 1
    assert await other.incr("k", 60, amount=4) == 5
    assert await one.get("k") == 5
    assert await other.get_expiry("k") > time.time()
    await other.clear("k")
    assert await one.get("k") == 0
    assert await one.check()


async def test_an_expired_counter_counts_from_zero_again(
    stores: tuple[SQLStorage, SQLStorage],
) -> None:
    store = counters(stores[0])
    await store.incr("gone", 0, amount=7)  # expired as soon as written
    assert await store.get("gone") == 0
    assert await store.incr("gone", 60) == 1
    assert await store.purge(now=time.time() + 61) == 1
    assert await store.get("gone") == 0


async def test_the_sliding_window_holds_its_limit_and_reports_it(
    stores: tuple[SQLStorage, SQLStorage],
) -> None:
    limiter = SlidingWindowCounterRateLimiter(counters(stores[0]))
    assert [await limiter.hit(DAILY, "login", "who") for _ in range(11)] == [True] * 10 + [False]
    stats = await limiter.get_window_stats(DAILY, "login", "who")
    assert stats.remaining == 0 and stats.reset_time > time.time()
    assert await limiter.hit(DAILY, "login", "someone else")
    await limiter.clear(DAILY, "login", "who")
    assert await limiter.hit(DAILY, "login", "who")


async def test_two_processes_hitting_at_once_share_one_limit(
    stores: tuple[SQLStorage, SQLStorage],
) -> None:
    await warm_up(*stores)
    limiters = [SlidingWindowCounterRateLimiter(counters(s)) for s in stores]
    hits = await asyncio.gather(*(limiters[i % 2].hit(DAILY, "login", "race") for i in range(40)))
    assert hits.count(True) == 10


async def test_many_writers_on_one_file_never_see_a_locked_database(
    sql_url: str, stores: tuple[SQLStorage, SQLStorage]
) -> None:
    """Four more storages (processes) besides the two: 6 x 40 increments at once, each
    waiting its turn for the write lock rather than failing."""
    more = [await open_storage(sql_url) for _ in range(4)]
    try:
        everyone = [*stores, *more]
        assert all(isinstance(s, SQLStorage) for s in everyone)
        writers = [SQLRateLimitCounters(s.db) for s in everyone if isinstance(s, SQLStorage)]
        await asyncio.gather(*(w.incr("busy", 60) for w in writers for _ in range(40)))
        assert await writers[0].get("busy") == 6 * 40
    finally:
        for storage in more:
            await storage.close()


async def test_two_throttles_on_the_database_count_one_login_limit(
    stores: tuple[SQLStorage, SQLStorage],
) -> None:
    """10 logins a minute per account and address is 10 in all, whichever worker counts."""
    policy = ThrottlePolicy(login="10/day", login_address="100/day")
    clock = FrozenClock(time.time())
    workers = [Throttle(counters(s), policy, secret=b"k" * 32, clock=clock) for s in stores]
    for attempt in range(10):
        await workers[attempt % 2].check_login("alice", "192.0.2.1")
    for worker in workers:
        with pytest.raises(RateLimited):
            await worker.check_login("alice", "192.0.2.1")
        assert not worker.degraded
