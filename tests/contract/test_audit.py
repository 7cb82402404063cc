"""AuditStore contract: an append-only trail in ``seq`` order, filtered, purged by age."""

from __future__ import annotations

import dataclasses

import pytest

from ostiary.storage import Storage
from ostiary.storage.records import AuditEvent
from tests.contract import examples as ex


def event(
    kind: str = "login",
    *,
    actor: str = "user-1",
    subject: str | None = "user-1",
    time: float = ex.NOW,
    outcome: str = "success",
) -> AuditEvent:
    return AuditEvent(
        kind=kind,
        time=time,
        actor=actor,
        outcome=outcome,
        subject=subject,
        address="203.0.113.7",
        user_agent="curl/8.5 (ünïcode)",
        data={"session": "sid-1", "grant": "password"},
    )


async def test_add_assigns_increasing_seqs_and_keeps_every_field(storage: Storage) -> None:
    given = [
        event(),
        dataclasses.replace(event("logout"), seq=999),
        AuditEvent(kind="key.rotated", time=ex.NOW + 0.5, actor="system", outcome="success"),
    ]
    added = [await storage.audit.add(e) for e in given]
    seqs = [a.seq for a in added]
    assert seqs[0] > 0
    assert seqs == sorted(set(seqs))
    assert [dataclasses.replace(a, seq=0) for a in added] == [
        dataclasses.replace(e, seq=0) for e in given
    ]
    assert await storage.audit.query() == added


async def test_query_filters_by_kind_subject_and_actor(storage: Storage) -> None:
    a = await storage.audit.add(event("login", actor="u1", subject="u1"))
    b = await storage.audit.add(event("login", actor="u2", subject="u2", outcome="failure"))
    c = await storage.audit.add(event("user.create", actor="operator", subject="u2"))
    assert await storage.audit.query(kind="login") == [a, b]
    assert await storage.audit.query(subject="u2") == [b, c]
    assert await storage.audit.query(actor="operator") == [c]
    assert await storage.audit.query(kind="login", subject="u2") == [b]
    assert await storage.audit.query(kind="nothing") == []


async def test_query_gives_later_events_in_order_up_to_the_limit(storage: Storage) -> None:
    added = [await storage.audit.add(event(subject=f"u{i}")) for i in range(5)]
    assert await storage.audit.query(since_seq=added[1].seq) == added[2:]
    assert await storage.audit.query(since_seq=added[1].seq, limit=2) == added[2:4]
    assert await storage.audit.query(since_seq=added[-1].seq) == []
    assert await storage.audit.query(limit=0) == []


async def test_query_latest_gives_the_last_events_in_order(storage: Storage) -> None:
    """What ``audit tail`` shows first, like ``tail -n``: the newest matching events."""
    added = [await storage.audit.add(event(subject=f"u{i % 2}")) for i in range(6)]
    assert await storage.audit.query(latest=True, limit=2) == added[4:]
    assert await storage.audit.query(latest=True, limit=100) == added
    assert await storage.audit.query(latest=True, subject="u0", limit=2) == [added[2], added[4]]
    assert await storage.audit.query(latest=True, since_seq=added[3].seq, limit=5) == added[4:]
    assert await storage.audit.query(latest=True, kind="nothing", limit=5) == []
    assert await storage.audit.query(latest=True, limit=0) == []


async def test_query_refuses_a_negative_limit(storage: Storage) -> None:
    with pytest.raises(ValueError, match="negative"):
        await storage.audit.query(limit=-1)


async def test_purge_deletes_only_events_before_the_time(storage: Storage) -> None:
    await storage.audit.add(event(time=ex.NOW))
    edge = await storage.audit.add(event(time=ex.NOW + 10))
    new = await storage.audit.add(event(time=ex.NOW + 20))
    assert await storage.audit.purge(before=ex.NOW + 10) == 1
    assert await storage.audit.query() == [edge, new]
    assert await storage.audit.purge(before=ex.NOW + 10) == 0


async def test_purging_the_newest_events_never_reuses_their_seq(storage: Storage) -> None:
    """``audit tail --follow`` asks for "since n": a reused n would be skipped."""
    await storage.audit.add(event(time=ex.NOW + 600))
    last = await storage.audit.add(event(time=ex.NOW))
    assert await storage.audit.purge(before=ex.NOW + 1) == 1
    after = await storage.audit.add(event(time=ex.NOW + 700))
    assert after.seq > last.seq


async def test_add_many_appends_in_order_in_one_go(storage: Storage) -> None:
    first = await storage.audit.add(event("login.success"))
    many = await storage.audit.add_many([event("refresh"), event("logout"), event("refresh")])
    assert [e.kind for e in many] == ["refresh", "logout", "refresh"]
    assert [e.seq for e in many] == [first.seq + 1, first.seq + 2, first.seq + 3]
    assert [e.kind for e in await storage.audit.query()] == [
        "login.success",
        "refresh",
        "logout",
        "refresh",
    ]
    assert await storage.audit.add_many([]) == []
