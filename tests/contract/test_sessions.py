"""SessionStore contract: refresh-token families, rotation as compare-and-set, revocation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable

import pytest

from ostiary.storage import Conflict, Storage, open_storage
from ostiary.storage.records import Rotation, Session
from tests.contract import examples as ex
from tests.contract.conftest import open_empty, warm_up

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


async def test_the_browser_session_round_trips(storage: Storage) -> None:
    family, first = ex.session(browser_session_id="b-1"), ex.token("h-0")
    await storage.sessions.create(family, first)
    assert await storage.sessions.get(family.id) == family
    assert await storage.sessions.find_token("h-0") == (first, family)
    assert await rotate(storage, "h-0", "h-1") == Rotation(first, family, rotated=True)
    assert await storage.sessions.list_for_user("u-1", now=LATER) == [
        dataclasses.replace(family, last_used_at=LATER)
    ]


async def test_the_audiences_round_trip_in_their_order(storage: Storage) -> None:
    family = dataclasses.replace(ex.session(), audiences=("https://b.example", "https://a.example"))
    await storage.sessions.create(family, ex.token("h-0"))
    assert await storage.sessions.get(family.id) == family
    found = await rotate(storage, "h-0", "h-1")
    assert found is not None
    assert found.session.audiences == ("https://b.example", "https://a.example")


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


def rotate(
    storage: Storage,
    old: str,
    successor: str,
    *,
    now: float = LATER,
    active_since: float = ex.NOW,
    client_id: str | None = None,
) -> Awaitable[Rotation | None]:
    return storage.sessions.rotate(
        old, successor, now=now, active_since=active_since, client_id=client_id
    )


async def test_rotate_for_another_client_changes_nothing(storage: Storage) -> None:
    family, first = ex.session(client_id="web"), ex.token("h-0")
    await storage.sessions.create(family, first)

    found = await rotate(storage, "h-0", "h-1", client_id="other")

    assert found == Rotation(first, family, rotated=False)
    assert await storage.sessions.find_token("h-1") is None
    assert await storage.sessions.find_token("h-0") == (first, family)
    rotated = await rotate(storage, "h-0", "h-1", client_id="web")
    assert rotated is not None and rotated.rotated


async def test_rotate_marks_the_old_token_used_and_adds_the_successor(storage: Storage) -> None:
    family = ex.session()
    await storage.sessions.create(family, ex.token("h-0"))
    assert await rotate(storage, "h-0", "h-1") == Rotation(ex.token("h-0"), family, rotated=True)
    touched = dataclasses.replace(family, last_used_at=LATER)
    assert await storage.sessions.find_token("h-0") == (
        dataclasses.replace(ex.token("h-0"), used_at=LATER),
        touched,
    )
    assert await storage.sessions.find_token("h-1") == (ex.token("h-1", issued_at=LATER), touched)


async def test_a_used_token_does_not_rotate_again(storage: Storage) -> None:
    family = ex.session()
    await storage.sessions.create(family, ex.token("h-0"))
    assert await rotate(storage, "h-0", "h-1")
    again = await rotate(storage, "h-0", "h-2", now=LATER + 1)
    assert again == Rotation(
        dataclasses.replace(ex.token("h-0"), used_at=LATER),
        dataclasses.replace(family, last_used_at=LATER),
        rotated=False,
    )
    assert await storage.sessions.find_token("h-2") is None


async def test_an_unknown_token_does_not_rotate(storage: Storage) -> None:
    assert await rotate(storage, "nope", "h-1") is None
    assert await storage.sessions.find_token("h-1") is None


@pytest.mark.parametrize(
    ("family", "active_since"),
    [
        (ex.session(revoked_at=ex.NOW + 1), ex.NOW),
        (ex.session(expires_at=LATER), ex.NOW),  # expires_at == now is expired
        (ex.session(), ex.NOW + 1),  # last used before active_since: idle
    ],
    ids=["revoked", "expired", "idle"],
)
async def test_a_dead_or_idle_family_does_not_rotate(
    storage: Storage, family: Session, active_since: float
) -> None:
    await storage.sessions.create(family, ex.token("h-0"))
    found = await rotate(storage, "h-0", "h-1", active_since=active_since)
    assert found == Rotation(ex.token("h-0"), family, rotated=False)
    assert await storage.sessions.find_token("h-0") == (ex.token("h-0"), family)
    assert await storage.sessions.find_token("h-1") is None


async def test_a_family_used_exactly_at_active_since_rotates(storage: Storage) -> None:
    await storage.sessions.create(ex.session(), ex.token("h-0"))
    found = await rotate(storage, "h-0", "h-1", active_since=ex.session().last_used_at)
    assert found is not None
    assert found.rotated


async def test_a_successor_with_a_taken_hash_conflicts_and_changes_nothing(
    storage: Storage,
) -> None:
    family = ex.session()
    await storage.sessions.create(family, ex.token("h-0"))
    await storage.sessions.create(ex.session("s-2"), ex.token("h-x", session_id="s-2"))
    with pytest.raises(Conflict):
        await rotate(storage, "h-0", "h-x")
    assert await storage.sessions.find_token("h-0") == (ex.token("h-0"), family)


async def test_of_20_concurrent_rotations_exactly_one_wins(storage: Storage) -> None:
    await storage.sessions.create(ex.session(), ex.token("h-0"))
    successors = [f"h-{i}" for i in range(1, 21)]
    found = await asyncio.gather(*(rotate(storage, "h-0", s) for s in successors))
    won = [f is not None and f.rotated for f in found]
    assert won.count(True) == 1
    winner = successors[won.index(True)]
    stored = [await storage.sessions.find_token(s) for s in successors]
    assert [f[0].token_hash for f in stored if f is not None] == [winner]


async def test_rotation_race_across_two_engines_has_one_winner(sql_url: str) -> None:
    """As two server processes would: separate pools, no shared in-process lock."""
    first = await open_empty(sql_url)
    second = await open_storage(sql_url)
    try:
        await first.sessions.create(ex.session(), ex.token("h-0"))
        await warm_up(first, second)
        calls = [rotate(first if i % 2 else second, "h-0", f"h-{i}") for i in range(1, 21)]
        found = await asyncio.gather(*calls)
        assert [f is not None and f.rotated for f in found].count(True) == 1
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


async def test_revoke_a_browser_session_revokes_only_its_live_families(
    storage: Storage,
) -> None:
    live_old = ex.session("s-1", created_at=ex.NOW, browser_session_id="b-1")
    live_new = ex.session("s-2", created_at=ex.NOW + 1, browser_session_id="b-1")
    expired = ex.session("s-3", expires_at=ex.NOW + 2, browser_session_id="b-1")
    revoked = ex.session("s-4", revoked_at=ex.NOW + 3, browser_session_id="b-1")
    other_browser = ex.session("s-5", browser_session_id="b-2")
    no_browser = ex.session("s-6")
    families = [live_old, live_new, expired, revoked, other_browser, no_browser]
    for i, family in enumerate(families):
        await storage.sessions.create(family, ex.token(f"h-{i}", session_id=family.id))

    got = await storage.sessions.revoke(now=LATER, browser_session_id="b-1")

    assert got == [dataclasses.replace(s, revoked_at=LATER) for s in (live_new, live_old)]
    for untouched in (expired, revoked, other_browser, no_browser):
        assert await storage.sessions.get(untouched.id) == untouched
    assert await storage.sessions.revoke(now=LATER + 1, browser_session_id="b-1") == []
    assert await storage.sessions.revoke(now=LATER, browser_session_id="unknown") == []


async def test_revoke_a_client_revokes_only_its_live_families(storage: Storage) -> None:
    live_old = ex.session("s-1", created_at=ex.NOW, client_id="app")
    live_new = ex.session("s-2", created_at=ex.NOW + 1, user_id="u-2", client_id="app")
    expired = ex.session("s-3", expires_at=ex.NOW + 2, client_id="app")
    revoked = ex.session("s-4", revoked_at=ex.NOW + 3, client_id="app")
    other_client = ex.session("s-5", client_id="other")
    families = [live_old, live_new, expired, revoked, other_client]
    for i, family in enumerate(families):
        await storage.sessions.create(family, ex.token(f"h-{i}", session_id=family.id))

    got = await storage.sessions.revoke(now=LATER, client_id="app")

    assert got == [dataclasses.replace(s, revoked_at=LATER) for s in (live_new, live_old)]
    for untouched in (expired, revoked, other_client):
        assert await storage.sessions.get(untouched.id) == untouched
    assert await storage.sessions.revoke(now=LATER + 1, client_id="app") == []


@pytest.mark.parametrize(
    ("session_id", "user_id", "browser_session_id", "client_id"),
    [
        (None, None, None, None),
        ("s-1", "u-1", None, None),
        ("s-1", None, "b-1", None),
        (None, "u-1", "b-1", None),
        (None, "u-1", None, "web"),
        ("s-1", "u-1", "b-1", "web"),
    ],
    ids=[
        "none",
        "session-and-user",
        "session-and-browser",
        "user-and-browser",
        "user-and-client",
        "all",
    ],
)
async def test_revoke_needs_exactly_one_target(
    storage: Storage,
    session_id: str | None,
    user_id: str | None,
    browser_session_id: str | None,
    client_id: str | None,
) -> None:
    await storage.sessions.create(ex.session(browser_session_id="b-1"), ex.token("h-0"))
    with pytest.raises(ValueError, match="exactly one"):
        await storage.sessions.revoke(
            now=LATER,
            session_id=session_id,
            user_id=user_id,
            browser_session_id=browser_session_id,
            client_id=client_id,
        )
    assert await storage.sessions.get("s-1") == ex.session(browser_session_id="b-1")


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
