"""UserStore contract."""

from __future__ import annotations

import dataclasses

import pytest

from ostiary.storage import Conflict, Storage
from tests.contract import examples as ex


async def test_created_user_reads_back_by_id_and_username(storage: Storage) -> None:
    alice = ex.user(username="alïce-ß")
    await storage.users.create(alice)
    assert await storage.users.get(alice.id) == alice
    assert await storage.users.get_by_username("alïce-ß") == alice


async def test_unknown_user_is_none(storage: Storage) -> None:
    assert await storage.users.get("nobody") is None
    assert await storage.users.get_by_username("nobody") is None


async def test_roles_round_trip_even_when_empty(storage: Storage) -> None:
    await storage.users.create(ex.user("u-1", username="a", roles=frozenset()))
    await storage.users.create(ex.user("u-2", username="b", roles=frozenset({"x y", '"q"'})))
    first, second = await storage.users.list()
    assert first.roles == frozenset()
    assert second.roles == frozenset({"x y", '"q"'})


async def test_taken_id_conflicts_and_keeps_the_original(storage: Storage) -> None:
    alice = ex.user("u-1", username="alice")
    await storage.users.create(alice)
    with pytest.raises(Conflict):
        await storage.users.create(ex.user("u-1", username="bob"))
    assert await storage.users.get("u-1") == alice
    assert await storage.users.get_by_username("bob") is None


async def test_taken_username_conflicts(storage: Storage) -> None:
    await storage.users.create(ex.user("u-1", username="alice"))
    with pytest.raises(Conflict):
        await storage.users.create(ex.user("u-2", username="alice"))
    assert await storage.users.get("u-2") is None


async def test_update_replaces_every_field(storage: Storage) -> None:
    alice = ex.user("u-1", username="alice")
    await storage.users.create(alice)
    changed = dataclasses.replace(
        alice,
        username="alice2",
        password_hash="$argon2id$new",
        roles=frozenset({"reader"}),
        disabled=True,
        password_changed_at=alice.created_at + 60.5,
    )
    await storage.users.update(changed)
    assert await storage.users.get("u-1") == changed
    assert await storage.users.get_by_username("alice2") == changed
    assert await storage.users.get_by_username("alice") is None


async def test_update_to_a_taken_username_conflicts_and_changes_nothing(storage: Storage) -> None:
    alice, bob = ex.user("u-1", username="alice"), ex.user("u-2", username="bob")
    await storage.users.create(alice)
    await storage.users.create(bob)
    with pytest.raises(Conflict):
        await storage.users.update(dataclasses.replace(bob, username="alice", disabled=True))
    assert await storage.users.get("u-2") == bob
    assert await storage.users.get_by_username("alice") == alice


async def test_update_of_an_unknown_user_does_nothing(storage: Storage) -> None:
    await storage.users.update(ex.user("ghost", username="ghost"))
    assert await storage.users.get("ghost") is None


async def test_list_orders_by_creation_then_id_and_pages(storage: Storage) -> None:
    for user_id, created in [("c", 3.0), ("b", 1.0), ("a", 1.0), ("d", 2.0)]:
        await storage.users.create(ex.user(user_id, username=user_id, created_at=created))
    everyone = await storage.users.list()
    assert [u.id for u in everyone] == ["a", "b", "d", "c"]
    assert [u.id for u in await storage.users.list(offset=1, limit=2)] == ["b", "d"]
    assert [u.id for u in await storage.users.list(offset=3, limit=10)] == ["c"]
    assert await storage.users.list(offset=4) == []
    assert await storage.users.list(limit=0) == []


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, -1)])
async def test_list_refuses_negative_bounds(storage: Storage, offset: int, limit: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        await storage.users.list(offset=offset, limit=limit)
