"""SessionStore contract: refresh-token families, rotation as compare-and-set, revocation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable

import pytest
from sqlalchemy import event

from ostiary.errors import InvalidGrant, RefreshTokenReused
from ostiary.revocation.service import Revocations
from ostiary.storage import Conflict, Storage, open_storage
from ostiary.storage.records import LoginSession, Rotation, User
from ostiary.storage.sql.engine import PostgresDatabase
from ostiary.tokens.lifecycle import SessionLifecycle
from ostiary.tokens.refresh import RefreshTokens
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
    storage: Storage, family: LoginSession, active_since: float
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


# --- rotate_for_live_user: the rotation and the family's user, in one transaction -----------


def rotate_for_user(
    storage: Storage,
    old: str,
    successor: str,
    *,
    now: float = LATER,
    active_since: float = ex.NOW,
    client_id: str | None = None,
) -> Awaitable[tuple[Rotation, User | None] | None]:
    return storage.sessions.rotate_for_live_user(
        old, successor, now=now, active_since=active_since, client_id=client_id
    )


async def test_rotate_for_a_live_user_rotates_and_reads_the_user(storage: Storage) -> None:
    alice, family, first = ex.user(), ex.session(), ex.token("h-0")
    await storage.users.create(alice)
    await storage.sessions.create(family, first)

    found = await rotate_for_user(storage, "h-0", "h-1", client_id="web")

    assert found == (Rotation(first, family, rotated=True), alice)
    touched = dataclasses.replace(family, last_used_at=LATER)
    assert await storage.sessions.find_token("h-0") == (
        dataclasses.replace(first, used_at=LATER),
        touched,
    )
    assert await storage.sessions.find_token("h-1") == (ex.token("h-1", issued_at=LATER), touched)


@pytest.mark.parametrize("user", [ex.user(disabled=True), None], ids=["disabled", "gone"])
async def test_rotate_for_a_user_not_live_changes_nothing(
    storage: Storage, user: User | None
) -> None:
    family, first = ex.session(), ex.token("h-0")
    if user is not None:
        await storage.users.create(user)
    await storage.sessions.create(family, first)

    found = await rotate_for_user(storage, "h-0", "h-1")

    assert found == (Rotation(first, family, rotated=False), user)
    assert await storage.sessions.find_token("h-0") == (first, family)
    assert await storage.sessions.find_token("h-1") is None


async def test_rotate_for_a_user_reads_the_user_of_the_family_only(storage: Storage) -> None:
    await storage.users.create(ex.user("u-1"))
    bob = ex.user("u-2", username="bob", roles=frozenset())
    await storage.users.create(bob)
    family = ex.session(user_id="u-2")
    await storage.sessions.create(family, ex.token("h-0"))

    found = await rotate_for_user(storage, "h-0", "h-1")

    assert found is not None and found[1] == bob and found[0].rotated


async def test_rotate_for_a_user_refuses_what_rotate_refuses(storage: Storage) -> None:
    alice = ex.user()
    await storage.users.create(alice)
    family, first = ex.session(client_id="web"), ex.token("h-0")
    await storage.sessions.create(family, first)
    revoked = ex.session("s-2", revoked_at=ex.NOW + 1)
    await storage.sessions.create(revoked, ex.token("h-r", session_id="s-2"))

    assert await rotate_for_user(storage, "nope", "h-1") is None
    other_client = await rotate_for_user(storage, "h-0", "h-1", client_id="other")
    assert other_client == (Rotation(first, family, rotated=False), alice)
    idle = await rotate_for_user(storage, "h-0", "h-1", active_since=ex.NOW + 1)
    assert idle == (Rotation(first, family, rotated=False), alice)
    dead = await rotate_for_user(storage, "h-r", "h-2")
    assert dead == (Rotation(ex.token("h-r", session_id="s-2"), revoked, rotated=False), alice)
    assert await storage.sessions.find_token("h-1") is None
    assert await storage.sessions.find_token("h-2") is None

    assert await rotate_for_user(storage, "h-0", "h-1", client_id="web")
    again = await rotate_for_user(storage, "h-0", "h-3", now=LATER + 1)
    assert again == (
        Rotation(
            dataclasses.replace(first, used_at=LATER),
            dataclasses.replace(family, last_used_at=LATER),
            rotated=False,
        ),
        alice,
    )
    assert await storage.sessions.find_token("h-3") is None


class Refused(Exception):
    """What a check raises in these tests."""


@pytest.mark.parametrize("token_state", ["unused", "used"])
async def test_a_check_that_raises_changes_nothing(storage: Storage, token_state: str) -> None:
    """The check runs in the rotation's transaction, whether the token would rotate or not:
    refused, the request leaves every record as it was (the token stays usable)."""
    await storage.users.create(ex.user())
    family = ex.session()
    await storage.sessions.create(family, ex.token("h-0"))
    if token_state == "used":
        assert await rotate(storage, "h-0", "h-1")
    before = await storage.sessions.find_token("h-0")
    seen: list[LoginSession] = []

    def check(found: LoginSession) -> None:
        seen.append(found)
        raise Refused

    with pytest.raises(Refused):
        await storage.sessions.rotate_for_live_user(
            "h-0", "h-2", now=LATER + 1, active_since=ex.NOW, client_id="web", check=check
        )

    assert before is not None and seen == [before[1]]
    assert await storage.sessions.find_token("h-0") == before
    assert await storage.sessions.find_token("h-2") is None
    assert await storage.sessions.list_for_user("u-1", now=LATER + 1) == [before[1]]


async def test_a_check_sees_the_family_of_the_client_only(storage: Storage) -> None:
    alice, family, first = ex.user(), ex.session(client_id="web"), ex.token("h-0")
    await storage.users.create(alice)
    await storage.sessions.create(family, first)
    seen: list[LoginSession] = []

    found = await storage.sessions.rotate_for_live_user(
        "h-0", "h-1", now=LATER, active_since=ex.NOW, client_id="other", check=seen.append
    )
    assert found == (Rotation(first, family, rotated=False), alice) and seen == []

    found = await storage.sessions.rotate_for_live_user(
        "h-0", "h-1", now=LATER, active_since=ex.NOW, client_id="web", check=seen.append
    )
    assert found == (Rotation(first, family, rotated=True), alice) and seen == [family]


async def test_rotate_for_a_user_with_a_taken_successor_conflicts_and_changes_nothing(
    storage: Storage,
) -> None:
    await storage.users.create(ex.user())
    family = ex.session()
    await storage.sessions.create(family, ex.token("h-0"))
    await storage.sessions.create(ex.session("s-2"), ex.token("h-x", session_id="s-2"))
    with pytest.raises(Conflict):
        await rotate_for_user(storage, "h-0", "h-x")
    assert await storage.sessions.find_token("h-0") == (ex.token("h-0"), family)


async def test_of_20_concurrent_rotations_for_a_user_exactly_one_wins(storage: Storage) -> None:
    await storage.users.create(ex.user())
    await storage.sessions.create(ex.session(), ex.token("h-0"))
    await warm_up(storage)
    successors = [f"h-{i}" for i in range(1, 21)]
    found = await asyncio.gather(*(rotate_for_user(storage, "h-0", s) for s in successors))
    won = [f is not None and f[0].rotated for f in found]
    assert won.count(True) == 1
    winner = successors[won.index(True)]
    stored = [await storage.sessions.find_token(s) for s in successors]
    assert [f[0].token_hash for f in stored if f is not None] == [winner]


async def test_rotation_for_a_user_races_across_two_engines_with_one_winner(
    sql_url: str,
) -> None:
    first = await open_empty(sql_url)
    second = await open_storage(sql_url)
    try:
        await first.users.create(ex.user())
        await first.sessions.create(ex.session(), ex.token("h-0"))
        await warm_up(first, second)
        calls = [rotate_for_user(first if i % 2 else second, "h-0", f"h-{i}") for i in range(1, 21)]
        found = await asyncio.gather(*calls)
        assert [f is not None and f[0].rotated for f in found].count(True) == 1
    finally:
        await first.close()
        await second.close()


# --- what one refresh costs a SQL store --------------------------------------------------------


def count_transactions(storage: Storage) -> list[object]:
    """Every transaction begun on ``storage``'s engine from now on, one entry each."""
    db = storage.db  # type: ignore[attr-defined]
    engine = db.engine.sync_engine if isinstance(db, PostgresDatabase) else db.engine
    begun: list[object] = []
    event.listen(engine, "begin", begun.append)
    return begun


async def test_a_refresh_is_one_transaction(sql_url: str) -> None:
    """Finding the family, checking it (as the grants do: DPoP binding, narrowed scope),
    reading its user and rotating happen in one transaction: one round of BEGIN and COMMIT,
    and the user's state read where the rotation decides."""
    storage = await open_empty(sql_url)
    try:
        await storage.users.create(ex.user())
        families = RefreshTokens(storage.sessions)
        lifecycle = SessionLifecycle(
            families,
            Revocations(storage.revocations, max_access_ttl=900),
            storage.browser_sessions,
            storage.users,
        )
        started = await families.start(user_id="u-1", client_id="web", scope="openid")
        begun = count_transactions(storage)
        checked: list[LoginSession] = []

        refreshed = await lifecycle.rotate(started.token, client_id="web", check=checked.append)

        assert refreshed.user == ex.user() and refreshed.session.id == started.session.id
        assert checked == [started.session]
        assert len(begun) == 1
    finally:
        await storage.close()


@pytest.mark.parametrize("grace", [0.0, 30.0], ids=["no-grace", "grace"])
async def test_concurrent_refreshes_of_one_token(sql_url: str, grace: float) -> None:
    """Ten requests present one token at once, through two engines: one rotates it; within a
    grace window the others get the same successor, without one the others are refused and
    the family ends (reuse)."""
    first = await open_empty(sql_url)
    second = await open_storage(sql_url)
    try:
        await first.users.create(ex.user())
        lifecycles = [
            SessionLifecycle(
                RefreshTokens(s.sessions, grace_seconds=grace, secret=b"k" * 32),
                Revocations(s.revocations, max_access_ttl=900),
                s.browser_sessions,
                s.users,
            )
            for s in (first, second)
        ]
        started = await lifecycles[0].families.start(user_id="u-1", client_id="web", scope="")
        await warm_up(first, second)

        calls = [lifecycles[i % 2].rotate(started.token, client_id="web") for i in range(10)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)

        issued = {o.issued.token for o in outcomes if not isinstance(o, BaseException)}
        family = await first.sessions.get(started.session.id)
        assert family is not None
        if grace:
            assert len(issued) == 1 and all(not isinstance(o, BaseException) for o in outcomes)
            assert family.revoked_at is None
        else:  # the first reuse ends the family; those after it find it ended
            refused = [o for o in outcomes if isinstance(o, InvalidGrant)]
            assert len(issued) == 1 and len(refused) == 9
            assert any(isinstance(o, RefreshTokenReused) for o in refused)
            assert family.revoked_at is not None
    finally:
        await first.close()
        await second.close()
