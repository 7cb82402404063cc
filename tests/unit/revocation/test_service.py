"""``Revocations``: the feed, its expiry, and the issuer's local copy."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.access_claims import AccessClaims
from ostiary.clock import FrozenClock
from ostiary.revocation.service import Revocations
from ostiary.storage.memory import MemoryRevocationStore
from ostiary.storage.records import RevocationKind
from tests.unit.revocation.conftest import T0

TTL = 900.0
LEEWAY = 30.0


@pytest.fixture
def store() -> MemoryRevocationStore:
    return MemoryRevocationStore()


@pytest.fixture
def revocations(store: MemoryRevocationStore, clock: FrozenClock) -> Revocations:
    return Revocations(store, clock=clock, max_access_ttl=TTL, leeway=LEEWAY)


def claims(
    *, jti: str = "j1", sid: str | None = "s1", sub: str = "u1", iat: float = T0
) -> AccessClaims:
    raw: dict[str, Any] = {
        "iss": "https://auth.test",
        "sub": sub,
        "aud": "api",
        "exp": iat + TTL,
        "iat": iat,
        "jti": jti,
        "client_id": "c",
    }
    if sid is not None:
        raw["sid"] = sid
    return AccessClaims.from_claims(raw)


async def test_each_kind_of_entry_lives_as_long_as_its_tokens(
    revocations: Revocations, clock: FrozenClock
) -> None:
    token = await revocations.revoke_token("j1", expires_at=T0 + 600)
    clock.advance(10)
    session = await revocations.revoke_session("s1")
    subject = await revocations.revoke_subject("u1")
    assert (token.kind, token.value, token.expires_at) == (RevocationKind.TOKEN, "j1", T0 + 630)
    assert (session.kind, session.not_before, session.expires_at) == (
        RevocationKind.SESSION,
        T0 + 10,
        T0 + 10 + TTL + LEEWAY,
    )
    assert (subject.kind, subject.not_before, subject.expires_at) == (
        RevocationKind.SUBJECT,
        T0 + 10,
        T0 + 10 + TTL + LEEWAY,
    )
    later = await revocations.revoke_subject("u2", not_before=T0 + 100)
    assert (later.not_before, later.expires_at) == (T0 + 100, T0 + 100 + TTL + LEEWAY)


async def test_the_feed_is_in_order_and_pages_by_cursor(revocations: Revocations) -> None:
    added = [await revocations.revoke_session(f"s{i}") for i in range(5)]
    assert [e.seq for e in added] == sorted({e.seq for e in added})
    page, cursor = await revocations.feed(0, limit=2)
    assert [e.value for e in page] == ["s0", "s1"] and cursor == added[1].seq
    page, cursor = await revocations.feed(cursor, limit=10)
    assert [e.value for e in page] == ["s2", "s3", "s4"] and cursor == added[4].seq
    page, same = await revocations.feed(cursor)
    assert (list(page), same) == ([], cursor)


async def test_a_feed_limit_is_clamped(revocations: Revocations) -> None:
    for i in range(3):
        await revocations.revoke_session(f"s{i}")
    assert len((await revocations.feed(0, limit=0))[0]) == 1
    assert len((await revocations.feed(-5, limit=10**9))[0]) == 3


async def test_expired_entries_are_purged(revocations: Revocations, clock: FrozenClock) -> None:
    await revocations.revoke_token("short", expires_at=T0 + 60)
    await revocations.revoke_session("s1")
    clock.advance(60 + LEEWAY + 1)
    assert await revocations.purge() == 1
    page, _ = await revocations.feed(0)
    assert [e.value for e in page] == ["s1"]
    assert not revocations.is_revoked(claims(jti="short", sid=None))
    assert revocations.is_revoked(claims(jti="other", sid="s1"))
    clock.advance(TTL)
    assert await revocations.purge() == 1
    assert not revocations.local


async def test_a_revocation_is_refused_locally_at_once(revocations: Revocations) -> None:
    assert not revocations.is_revoked(claims())
    await revocations.revoke_token("j1", expires_at=T0 + TTL)
    assert revocations.is_revoked(claims(jti="j1", sid=None))
    assert not revocations.is_revoked(claims(jti="j2", sid=None))
    await revocations.revoke_session("s9")
    assert revocations.is_revoked(claims(jti="j2", sid="s9"))


async def test_a_subject_revocation_covers_tokens_issued_before_it(
    revocations: Revocations, clock: FrozenClock
) -> None:
    clock.advance(100)
    await revocations.revoke_subject("u1")
    assert revocations.is_revoked(claims(sub="u1", sid=None, iat=T0 + 99))
    assert not revocations.is_revoked(claims(sub="u1", sid=None, iat=T0 + 100))
    assert not revocations.is_revoked(claims(sub="u2", sid=None, iat=T0))


async def test_sync_brings_another_processs_revocations(
    store: MemoryRevocationStore, revocations: Revocations, clock: FrozenClock
) -> None:
    elsewhere = Revocations(store, clock=clock, max_access_ttl=TTL, leeway=LEEWAY)
    await elsewhere.revoke_session("s1")
    await elsewhere.revoke_token("j7", expires_at=T0 + TTL)
    assert not revocations.is_revoked(claims(sid="s1"))
    assert await revocations.sync() == 2
    assert revocations.is_revoked(claims(sid="s1"))
    assert revocations.is_revoked(claims(jti="j7", sid=None))
    assert await revocations.sync() == 0  # nothing new: one empty query
    await elsewhere.revoke_subject("u5")
    assert await revocations.sync() == 1
    assert revocations.is_revoked(claims(sub="u5", sid=None, iat=T0 - 1))


async def test_sync_reads_past_one_page(
    store: MemoryRevocationStore, revocations: Revocations, clock: FrozenClock
) -> None:
    elsewhere = Revocations(store, clock=clock, max_access_ttl=TTL)
    for i in range(1500):
        await elsewhere.revoke_token(f"j{i}", expires_at=T0 + TTL)
    assert await revocations.sync() == 1500
    assert revocations.is_revoked(claims(jti="j1499", sid=None))


async def test_sync_forgets_what_has_expired_locally(
    store: MemoryRevocationStore, revocations: Revocations, clock: FrozenClock
) -> None:
    await revocations.revoke_session("s1")
    await revocations.revoke_subject("u1")
    clock.advance(TTL + LEEWAY + 1)
    await revocations.sync()
    assert not revocations.local


def test_bad_lifetimes_are_refused(store: MemoryRevocationStore) -> None:
    with pytest.raises(ValueError):
        Revocations(store, max_access_ttl=0)
    with pytest.raises(ValueError):
        Revocations(store, max_access_ttl=TTL, leeway=-1)
