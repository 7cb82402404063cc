"""LeaseStore contract: one holder at a time, until the lease expires or is released."""

from __future__ import annotations

import asyncio

from ostiary.storage import Storage
from tests.contract.examples import NOW

TTL = 30.0


async def test_a_free_lease_is_taken_and_then_refused_to_others(storage: Storage) -> None:
    assert await storage.leases.acquire("rotate-keys", holder="a", now=NOW, ttl=TTL)
    assert not await storage.leases.acquire("rotate-keys", holder="b", now=NOW + 1, ttl=TTL)
    assert await storage.leases.acquire("purge", holder="b", now=NOW + 1, ttl=TTL)


async def test_the_holder_renews_its_lease(storage: Storage) -> None:
    assert await storage.leases.acquire("job", holder="a", now=NOW, ttl=TTL)
    assert await storage.leases.acquire("job", holder="a", now=NOW + 20, ttl=TTL)
    # Renewed until NOW + 50: still held at NOW + 40, when the first term had ended.
    assert not await storage.leases.acquire("job", holder="b", now=NOW + 40, ttl=TTL)


async def test_an_expired_lease_goes_to_the_next_caller(storage: Storage) -> None:
    assert await storage.leases.acquire("job", holder="a", now=NOW, ttl=TTL)
    assert await storage.leases.acquire("job", holder="b", now=NOW + TTL, ttl=TTL)
    assert not await storage.leases.acquire("job", holder="a", now=NOW + TTL + 1, ttl=TTL)


async def test_release_frees_the_lease_only_for_its_holder(storage: Storage) -> None:
    assert await storage.leases.acquire("job", holder="a", now=NOW, ttl=TTL)
    await storage.leases.release("job", holder="b")
    assert not await storage.leases.acquire("job", holder="b", now=NOW + 1, ttl=TTL)
    await storage.leases.release("job", holder="a")
    assert await storage.leases.acquire("job", holder="b", now=NOW + 1, ttl=TTL)
    await storage.leases.release("never-taken", holder="a")


async def test_of_20_concurrent_takers_exactly_one_holds(storage: Storage) -> None:
    held = await asyncio.gather(
        *(storage.leases.acquire("job", holder=f"h-{i}", now=NOW, ttl=TTL) for i in range(20))
    )
    assert held.count(True) == 1
