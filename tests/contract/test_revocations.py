"""RevocationStore contract: an append-only feed in ``seq`` order, purged once expired."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from ostiary.storage import Storage
from ostiary.storage.records import RevocationKind
from tests.contract import examples as ex


async def test_add_assigns_increasing_seqs_and_keeps_every_field(storage: Storage) -> None:
    entries = [
        ex.revocation("jti-1", kind=RevocationKind.TOKEN),
        ex.revocation("sid-1", kind=RevocationKind.SESSION),
        dataclasses.replace(ex.revocation("sub-1", kind=RevocationKind.SUBJECT), seq=999),
    ]
    added = [await storage.revocations.add(e) for e in entries]
    seqs = [a.seq for a in added]
    assert seqs[0] > 0
    assert seqs == sorted(set(seqs))
    assert [dataclasses.replace(a, seq=0) for a in added] == [
        dataclasses.replace(e, seq=0) for e in entries
    ]
    assert await storage.revocations.since(0) == added
    assert all(isinstance(a.kind, RevocationKind) for a in await storage.revocations.since(0))


async def test_since_gives_later_entries_in_order_up_to_the_limit(storage: Storage) -> None:
    added = [await storage.revocations.add(ex.revocation(f"jti-{i}")) for i in range(5)]
    assert await storage.revocations.since(added[1].seq) == added[2:]
    assert await storage.revocations.since(added[1].seq, limit=2) == added[2:4]
    assert await storage.revocations.since(added[-1].seq) == []
    assert await storage.revocations.since(0, limit=0) == []


async def test_since_refuses_a_negative_limit(storage: Storage) -> None:
    with pytest.raises(ValueError, match="negative"):
        await storage.revocations.since(0, limit=-1)


async def test_purge_deletes_only_entries_expired_before_now(storage: Storage) -> None:
    old = await storage.revocations.add(ex.revocation("old", expires_at=ex.NOW + 10))
    edge = await storage.revocations.add(ex.revocation("edge", expires_at=ex.NOW + 20))
    new = await storage.revocations.add(ex.revocation("new", expires_at=ex.NOW + 30))
    assert await storage.revocations.purge(now=ex.NOW + 20) == 1
    assert await storage.revocations.since(0) == [edge, new]
    assert await storage.revocations.purge(now=ex.NOW + 20) == 0
    assert old.seq < edge.seq


async def test_purging_the_newest_entries_never_reuses_their_seq(storage: Storage) -> None:
    """A resource server that saw seq n asks for "since n": a reused n would be skipped."""
    await storage.revocations.add(ex.revocation("keep", expires_at=ex.NOW + 600))
    last = await storage.revocations.add(ex.revocation("gone", expires_at=ex.NOW + 1))
    assert await storage.revocations.purge(now=ex.NOW + 2) == 1
    after = await storage.revocations.add(ex.revocation("after"))
    assert after.seq > last.seq
    assert await storage.revocations.since(last.seq) == [after]


async def test_concurrent_adds_get_distinct_seqs(storage: Storage) -> None:
    added = await asyncio.gather(
        *(storage.revocations.add(ex.revocation(f"jti-{i}")) for i in range(20))
    )
    assert len({a.seq for a in added}) == 20
    assert await storage.revocations.since(0) == sorted(added, key=lambda a: a.seq)
