"""``AuditTrail``: security events stored and logged before ``record`` returns; routine ones
logged at once and stored in batches (one transaction for many); never failing the caller,
and all of them stored once ``drain`` returns."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

import pytest

from ostiary.audit import AuditTrail
from ostiary.clock import FrozenClock
from ostiary.storage.memory import MemoryAuditStore
from ostiary.storage.records import AuditEvent


class CountingStore(MemoryAuditStore):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail = False

    async def add_many(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        self.batches.append(len(events))
        await asyncio.sleep(0)  # a write takes time: later events queue meanwhile
        if self.fail:
            raise OSError("disk full")
        return await super().add_many(events)


def trail_of(store: CountingStore) -> AuditTrail:
    return AuditTrail(store, clock=FrozenClock(1_700_000_000.0), batch_delay=0.01)


async def test_events_recorded_together_are_stored_in_one_transaction() -> None:
    store = CountingStore()
    trail = trail_of(store)
    await asyncio.gather(
        *(trail.record("refresh", actor=f"user-{i}", subject=f"user-{i}") for i in range(20))
    )
    assert store.batches == []  # nobody waited for the write
    await trail.drain()
    assert store.batches == [20]
    stored = await store.query()
    assert [e.actor for e in stored] == [f"user-{i}" for i in range(20)]
    assert [e.seq for e in stored] == list(range(1, 21))


async def test_events_that_arrive_during_a_write_go_in_the_next_batch() -> None:
    store = CountingStore()
    trail = trail_of(store)
    await trail.record("login", actor="a")
    await asyncio.sleep(0.02)  # the first batch is being written now
    await trail.record("logout", actor="a")
    await trail.drain()
    assert sum(store.batches) == 2
    assert [e.kind for e in await store.query()] == ["login", "logout"]


async def test_a_failed_write_never_fails_the_caller_and_later_events_are_stored() -> None:
    store = CountingStore()
    store.fail = True
    trail = trail_of(store)
    for _ in range(3):
        assert await trail.record("login", actor="u") is not None
    await trail.drain()
    assert await store.query() == []
    store.fail = False
    await trail.record("login", actor="u")
    await trail.drain()
    assert len(await store.query()) == 1


async def test_a_security_event_is_stored_and_logged_before_record_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing is left for a background write that a SIGKILL would lose (issue 10 §3)."""
    caplog.set_level(logging.INFO, logger="ostiary.audit")
    store = CountingStore()
    trail = AuditTrail(store, clock=FrozenClock(1_700_000_000.0), batch_delay=3600)
    for kind in ("login", "refresh.reuse", "logout", "session.end", "user.disable", "key.rotated"):
        recorded = await trail.record(kind, actor="u", subject="u")
        assert recorded is not None and recorded.seq > 0
    stored = [e.kind for e in await store.query()]
    assert stored == [
        "login",
        "refresh.reuse",
        "logout",
        "session.end",
        "user.disable",
        "key.rotated",
    ]
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ostiary.audit"]
    assert [(line["kind"], line["seq"]) for line in logged] == [
        (kind, seq) for kind, seq in zip(stored, range(1, 7), strict=True)
    ]


async def test_a_routine_event_is_logged_at_once_and_stored_with_its_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ostiary.audit")
    store = CountingStore()
    trail = trail_of(store)
    await trail.record("refresh", actor="u", subject="u")
    await trail.record("oauth.refresh_token", actor="c", subject="u")
    assert store.batches == []  # nobody waited for the write
    logged = [json.loads(r.getMessage())["kind"] for r in caplog.records]
    assert logged == ["refresh", "oauth.refresh_token"]
    await trail.drain()
    assert [e.kind for e in await store.query()] == ["refresh", "oauth.refresh_token"]
