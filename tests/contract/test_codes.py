"""AuthorizationCodeStore contract: single use decided by the store, reuse reported."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from ostiary.storage import Conflict, Storage, open_storage
from tests.contract import examples as ex
from tests.contract.conftest import open_empty, warm_up

LATER = ex.NOW + 5


async def test_the_first_consume_returns_the_code_as_added(storage: Storage) -> None:
    code = ex.code()
    await storage.codes.add(code)
    assert await storage.codes.consume(code.code_hash, now=LATER) == code


async def test_none_fields_and_empty_audiences_round_trip(storage: Storage) -> None:
    bare = dataclasses.replace(ex.code(), audiences=(), nonce=None, browser_session_id=None)
    await storage.codes.add(bare)
    assert await storage.codes.consume(bare.code_hash, now=LATER) == bare


async def test_a_second_consume_reports_reuse_with_the_first_use_time(storage: Storage) -> None:
    code = ex.code()
    await storage.codes.add(code)
    assert await storage.codes.consume(code.code_hash, now=LATER) == code
    used = dataclasses.replace(code, used_at=LATER)
    assert await storage.codes.consume(code.code_hash, now=LATER + 1) == used
    assert await storage.codes.consume(code.code_hash, now=LATER + 2) == used


async def test_a_code_added_as_used_is_never_consumed(storage: Storage) -> None:
    used = ex.code(used_at=ex.NOW + 1, session_id="s-1")
    await storage.codes.add(used)
    assert await storage.codes.consume(used.code_hash, now=LATER) == used


async def test_an_unknown_code_is_none(storage: Storage) -> None:
    assert await storage.codes.consume("unknown", now=LATER) is None


async def test_taken_hash_conflicts_and_keeps_the_original(storage: Storage) -> None:
    code = ex.code()
    await storage.codes.add(code)
    with pytest.raises(Conflict):
        await storage.codes.add(dataclasses.replace(code, user_id="u-2", scope="admin"))
    assert await storage.codes.consume(code.code_hash, now=LATER) == code


async def test_the_attached_family_is_reported_on_reuse(storage: Storage) -> None:
    code = ex.code()
    await storage.codes.add(code)
    assert await storage.codes.consume(code.code_hash, now=LATER) == code
    await storage.codes.attach_session(code.code_hash, "s-1")
    reused = await storage.codes.consume(code.code_hash, now=LATER + 1)
    assert reused == dataclasses.replace(code, used_at=LATER, session_id="s-1")


async def test_attaching_to_an_unknown_code_does_nothing(storage: Storage) -> None:
    await storage.codes.attach_session("unknown", "s-1")
    assert await storage.codes.consume("unknown", now=LATER) is None


async def test_purge_deletes_codes_expired_before_now(storage: Storage) -> None:
    for code_hash, expires_at in [("old", LATER - 1), ("older", LATER - 2), ("edge", LATER)]:
        await storage.codes.add(ex.code(code_hash, expires_at=expires_at))
    await storage.codes.add(ex.code("fresh", expires_at=LATER + 60))
    assert await storage.codes.purge(now=LATER) == 2
    assert await storage.codes.purge(now=LATER) == 0
    assert await storage.codes.consume("old", now=LATER) is None
    assert await storage.codes.consume("older", now=LATER) is None
    assert await storage.codes.consume("edge", now=LATER) == ex.code("edge", expires_at=LATER)
    assert await storage.codes.consume("fresh", now=LATER) is not None


async def test_of_20_concurrent_consumers_exactly_one_consumes(storage: Storage) -> None:
    await storage.codes.add(ex.code())
    found = await asyncio.gather(
        *(storage.codes.consume("c-hash-1", now=LATER + i) for i in range(20))
    )
    assert None not in found
    firsts = [f is not None and f.used_at is None for f in found]
    assert firsts.count(True) == 1
    # Everyone else saw the winner's mark.
    winner_now = LATER + firsts.index(True)
    assert {f.used_at for f in found if f is not None and f.used_at is not None} == {winner_now}


async def test_consume_race_across_two_engines_has_one_winner(sql_url: str) -> None:
    """As two server processes would: separate pools, no shared in-process lock."""
    first = await open_empty(sql_url)
    second = await open_storage(sql_url)
    try:
        await first.codes.add(ex.code())
        await warm_up(first, second)
        calls = [
            (first if i % 2 else second).codes.consume("c-hash-1", now=LATER) for i in range(20)
        ]
        found = await asyncio.gather(*calls)
        assert [f is not None and f.used_at is None for f in found].count(True) == 1
        assert all(f is not None for f in found)
    finally:
        await first.close()
        await second.close()
