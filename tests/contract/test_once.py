"""OnceStore contract: a key is used once while remembered, then may be used again."""

from __future__ import annotations

import asyncio

from ostiary.storage import Storage, open_storage
from tests.contract.conftest import open_empty, warm_up
from tests.contract.examples import NOW

EXPIRES = NOW + 60


async def test_a_key_is_used_once_until_it_expires(storage: Storage) -> None:
    assert await storage.once.first_use("jti-1", expires_at=EXPIRES, now=NOW)
    assert not await storage.once.first_use("jti-1", expires_at=EXPIRES, now=NOW + 1)
    # Still remembered when the time is exactly its expiry.
    assert not await storage.once.first_use("jti-1", expires_at=EXPIRES + 60, now=EXPIRES)
    assert await storage.once.first_use("jti-2", expires_at=EXPIRES, now=NOW + 1)


async def test_an_expired_key_may_be_used_again_and_is_then_remembered(
    storage: Storage,
) -> None:
    assert await storage.once.first_use("jti-1", expires_at=EXPIRES, now=NOW)
    assert await storage.once.first_use("jti-1", expires_at=EXPIRES + 60, now=EXPIRES + 1)
    assert not await storage.once.first_use("jti-1", expires_at=EXPIRES + 60, now=EXPIRES + 2)
    # Remembered until the new expiry, not the first one.
    assert not await storage.once.first_use("jti-1", expires_at=EXPIRES + 90, now=EXPIRES + 60)
    assert await storage.once.first_use("jti-1", expires_at=EXPIRES + 90, now=EXPIRES + 61)


async def test_a_key_already_expired_is_still_used_once_at_that_time(storage: Storage) -> None:
    assert await storage.once.first_use("jti-1", expires_at=NOW - 10, now=NOW)
    assert not await storage.once.first_use("jti-1", expires_at=NOW - 10, now=NOW)


async def test_of_20_concurrent_callers_exactly_one_is_first(storage: Storage) -> None:
    used = await asyncio.gather(
        *(storage.once.first_use("jti-1", expires_at=EXPIRES, now=NOW) for _ in range(20))
    )
    assert used.count(True) == 1


async def test_of_20_concurrent_callers_of_an_expired_key_exactly_one_is_first(
    storage: Storage,
) -> None:
    assert await storage.once.first_use("jti-1", expires_at=EXPIRES, now=NOW)
    later = EXPIRES + 1
    used = await asyncio.gather(
        *(storage.once.first_use("jti-1", expires_at=later + 60, now=later) for _ in range(20))
    )
    assert used.count(True) == 1


async def test_first_use_race_across_two_engines_has_one_winner(sql_url: str) -> None:
    """As two server processes would: separate pools, no shared in-process lock."""
    first = await open_empty(sql_url)
    second = await open_storage(sql_url)
    try:
        await warm_up(first, second)
        calls = [
            (first if i % 2 else second).once.first_use("jti-1", expires_at=EXPIRES, now=NOW)
            for i in range(20)
        ]
        assert (await asyncio.gather(*calls)).count(True) == 1
    finally:
        await first.close()
        await second.close()


async def test_purge_deletes_only_keys_expired_before_now(storage: Storage) -> None:
    for key, expires_at in [("old", EXPIRES - 1), ("older", EXPIRES - 2), ("edge", EXPIRES)]:
        assert await storage.once.first_use(key, expires_at=expires_at, now=NOW)
    assert await storage.once.first_use("fresh", expires_at=EXPIRES + 60, now=NOW)
    assert await storage.once.purge(now=EXPIRES) == 2
    assert await storage.once.purge(now=EXPIRES) == 0
    # Kept: still remembered at the time of their expiry and after it until purged.
    assert not await storage.once.first_use("edge", expires_at=EXPIRES + 60, now=EXPIRES)
    assert not await storage.once.first_use("fresh", expires_at=EXPIRES + 60, now=EXPIRES)


async def test_a_purged_key_may_be_used_again_and_is_then_remembered(storage: Storage) -> None:
    assert await storage.once.first_use("jti-1", expires_at=EXPIRES, now=NOW)
    assert await storage.once.purge(now=EXPIRES + 1) == 1
    assert await storage.once.first_use("jti-1", expires_at=EXPIRES + 60, now=EXPIRES + 1)
    assert not await storage.once.first_use("jti-1", expires_at=EXPIRES + 60, now=EXPIRES + 2)
    assert await storage.once.purge(now=EXPIRES + 2) == 0


async def test_purging_an_empty_store_deletes_nothing(storage: Storage) -> None:
    assert await storage.once.purge(now=NOW) == 0
