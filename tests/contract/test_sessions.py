"""SessionStore contract: refresh-token families, rotation as compare-and-set, revocation."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from ostiary.storage import Conflict, Storage, open_storage
from ostiary.storage.records import Session
from tests.contract import examples as ex
from tests.contract.conftest import open_empty

LATER = ex.NOW + 60


async def test_created_family_reads_back_with_its_first_token(storage: Storage) -> None:
    family, first = ex.session(), ex.token("h-0")
    await storage.sessions.create(family, first)
    assert await storage.sessions.get(family.id) == family
    assert await storage.sessions.find_token("h-0") == (first, family)
    assert await storage.sessions.get("other") is None
    assert await storage.sessions.find_token("other") is None


async def test_optional_fields_may_be_none(storage: Storage) -> None:
    bare = dataclasses.replace(ex.session(), user_agent=None, address=None)
    await storage.sessions.create(bare, ex.token("h-0"))
    assert await storage.sessions.get(bare.id) == bare


async def test_taken_session_id_conflicts(storage: Storage) -> None:
    await storage.sessions.create(ex.session("s-1"), ex.token("h-0"))
    with pytest.raises(Conflict):
        await storage.sessions.create(ex.session("s-1"), ex.token("h-1"))
    assert await storage.sessions.find_token("h-1") is None


async def test_taken_token_hash_conflicts_and_creates_no_family(storage: Storage) -> None:
    await storage.sessions.create(ex.session("s-1"), ex.token("h-0"))
    with pytest.raises(Conflict):
        await storage.sessions.create(ex.session("s-2"), ex.token("h-0", session_id="s-2"))
    assert await storage.sessions.get("s-2") is None


async def test_first_token_of_another_family_is_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match="another session"):
        await storage.sessions.create(ex.session("s-1"), ex.token("h-0", session_id="s-2"))
    assert await storage.sessions.get("s-1") is None


async def test_rotate_marks_the_old_token_used_and_adds_the_successor(storage: Storage) -> None:
    family = ex.session()
    await storage.sessions.create(family, ex.token("h-0"))
    successor = ex.token("h-1", issued_at=LATER)
    assert await storage.sessions.rotate("h-0", successor, now=LATER) is True
    touched = dataclasses.replace(family, last_used_at=LATER)
    assert await storage.sessions.find_token("h-0") == (
        dataclasses.replace(ex.token("h-0"), used_at=LATER),
        touched,
    )
    assert await storage.sessions.find_token("h-1") == (successor, touched)


async def test_a_used_token_does_not_rotate_again(storage: Storage) -> None:
    await storage.sessions.create(ex.session(), ex.token("h-0"))
    assert await storage.sessions.rotate("h-0", ex.token("h-1"), now=LATER)
    assert await storage.sessions.rotate("h-0", ex.token("h-2"), now=LATER + 1) is False
    assert await storage.sessions.find_token("h-2") is None
    found = await storage.sessions.find_token("h-0")
    assert found is not None
    assert found[0].used_at == LATER
    assert found[1].last_used_at == LATER


async def test_an_unknown_token_does_not_rotate(storage: Storage) -> None:
    assert await storage.sessions.rotate("nope", ex.token("h-1"), now=LATER) is False
    assert await storage.sessions.find_token("h-1") is None


@pytest.mark.parametrize(
    "family",
    [
        ex.session(revoked_at=ex.NOW + 1),
        ex.session(expires_at=LATER),  # expires_at == now is expired
    ],
    ids=["revoked", "expired"],
)
async def test_a_dead_family_does_not_rotate(storage: Storage, family: Session) -> None:
    await storage.sessions.create(family, ex.token("h-0"))
    assert await storage.sessions.rotate("h-0", ex.token("h-1"), now=LATER) is False
    assert await storage.sessions.find_token("h-0") == (ex.token("h-0"), family)
    assert await storage.sessions.find_token("h-1") is None


async def test_a_successor_with_a_taken_hash_conflicts_and_changes_nothing(
    storage: Storage,
) -> None:
    family = ex.session()
    await storage.sessions.create(family, ex.token("h-0"))
    await storage.sessions.create(ex.session("s-2"), ex.token("h-x", session_id="s-2"))
    with pytest.raises(Conflict):
        await storage.sessions.rotate("h-0", ex.token("h-x"), now=LATER)
    assert await storage.sessions.find_token("h-0") == (ex.token("h-0"), family)


async def test_a_successor_of_another_family_is_refused_and_changes_nothing(
    storage: Storage,
) -> None:
    family = ex.session()
    await storage.sessions.create(family, ex.token("h-0"))
    with pytest.raises(ValueError, match="another session"):
        await storage.sessions.rotate("h-0", ex.token("h-1", session_id="s-9"), now=LATER)
    assert await storage.sessions.find_token("h-0") == (ex.token("h-0"), family)
    assert await storage.sessions.find_token("h-1") is None


async def test_of_20_concurrent_rotations_exactly_one_wins(storage: Storage) -> None:
    await storage.sessions.create(ex.session(), ex.token("h-0"))
    successors = [ex.token(f"h-{i}") for i in range(1, 21)]
    won = await asyncio.gather(*(storage.sessions.rotate("h-0", s, now=LATER) for s in successors))
    assert won.count(True) == 1
    winner = successors[won.index(True)]
    found = [await storage.sessions.find_token(s.token_hash) for s in successors]
    assert [f[0] for f in found if f is not None] == [winner]


async def test_rotation_race_across_two_engines_has_one_winner(sql_url: str) -> None:
    """As two server processes would: separate pools, no shared in-process lock."""
    first = await open_empty(sql_url)
    second = await open_storage(sql_url)
    try:
        await first.sessions.create(ex.session(), ex.token("h-0"))
        calls = [
            (first if i % 2 else second).sessions.rotate("h-0", ex.token(f"h-{i}"), now=LATER)
            for i in range(1, 21)
        ]
        won = await asyncio.gather(*calls)
        assert won.count(True) == 1
    finally:
        await first.close()
        await second.close()


async def test_revoke_one_family_returns_it_once(storage: Storage) -> None:
    family = ex.session()
    await storage.sessions.create(family, ex.token("h-0"))
    revoked = dataclasses.replace(family, revoked_at=LATER)
    assert await storage.sessions.revoke(now=LATER, session_id=family.id) == [revoked]
    assert await storage.sessions.get(family.id) == revoked
    assert await storage.sessions.revoke(now=LATER + 1, session_id=family.id) == []
    assert await storage.sessions.get(family.id) == revoked
    assert await storage.sessions.revoke(now=LATER, session_id="unknown") == []


async def test_revoke_a_user_revokes_only_their_live_families(storage: Storage) -> None:
    live_old = ex.session("s-1", created_at=ex.NOW)
    live_new = ex.session("s-2", created_at=ex.NOW + 1)
    expired = ex.session("s-3", expires_at=ex.NOW + 2)
    revoked = ex.session("s-4", revoked_at=ex.NOW + 3)
    someone_else = ex.session("s-5", user_id="u-2")
    for i, family in enumerate([live_old, live_new, expired, revoked, someone_else]):
        await storage.sessions.create(family, ex.token(f"h-{i}", session_id=family.id))

    got = await storage.sessions.revoke(now=LATER, user_id="u-1")

    assert got == [dataclasses.replace(s, revoked_at=LATER) for s in (live_new, live_old)]
    assert await storage.sessions.get("s-3") == expired
    assert await storage.sessions.get("s-4") == revoked
    assert await storage.sessions.get("s-5") == someone_else


@pytest.mark.parametrize(
    ("session_id", "user_id"), [(None, None), ("s-1", "u-1")], ids=["neither", "both"]
)
async def test_revoke_needs_exactly_one_target(
    storage: Storage, session_id: str | None, user_id: str | None
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        await storage.sessions.revoke(now=LATER, session_id=session_id, user_id=user_id)


async def test_list_for_user_gives_live_families_newest_first(storage: Storage) -> None:
    families = [
        ex.session("s-a", created_at=ex.NOW + 1),
        ex.session("s-b", created_at=ex.NOW + 5),
        ex.session("s-c", created_at=ex.NOW + 1),
        ex.session("s-expired", expires_at=LATER),
        ex.session("s-revoked", revoked_at=ex.NOW),
        ex.session("s-other", user_id="u-2"),
    ]
    for i, family in enumerate(families):
        await storage.sessions.create(family, ex.token(f"h-{i}", session_id=family.id))
    listed = await storage.sessions.list_for_user("u-1", now=LATER)
    assert [s.id for s in listed] == ["s-b", "s-c", "s-a"]
    assert await storage.sessions.list_for_user("u-9", now=LATER) == []
