"""KeyStore contract: signing keys at rest and their lifecycle status."""

from __future__ import annotations

import dataclasses

import pytest

from ostiary.storage import Conflict, Storage
from ostiary.storage.records import KeyStatus
from tests.contract import examples as ex


async def test_added_keys_list_by_creation_then_kid(storage: Storage) -> None:
    keys = [
        ex.stored_key("kid-b", created_at=ex.NOW),
        ex.stored_key("kid-c", created_at=ex.NOW - 1),
        ex.stored_key("kid-a", created_at=ex.NOW),
    ]
    for key in keys:
        await storage.keys.add(key)
    assert await storage.keys.list() == [keys[1], keys[2], keys[0]]


async def test_sealed_bytes_and_times_round_trip(storage: Storage) -> None:
    key = dataclasses.replace(
        ex.stored_key(),
        sealed=bytes(range(256)),
        status=KeyStatus.RETIRED,
        activated_at=ex.NOW + 0.125,
        retired_at=ex.NOW + 1e6,
    )
    await storage.keys.add(key)
    assert await storage.keys.list() == [key]


async def test_taken_kid_conflicts(storage: Storage) -> None:
    key = ex.stored_key("kid-1")
    await storage.keys.add(key)
    with pytest.raises(Conflict):
        await storage.keys.add(dataclasses.replace(key, alg="ES256"))
    assert await storage.keys.list() == [key]


async def test_set_status_records_the_times_given_and_keeps_the_others(
    storage: Storage,
) -> None:
    key = ex.stored_key("kid-1")
    await storage.keys.add(key)
    await storage.keys.add(ex.stored_key("kid-2", created_at=ex.NOW + 1))

    await storage.keys.set_status("kid-1", KeyStatus.ACTIVE, activated_at=ex.NOW + 10)
    active = dataclasses.replace(key, status=KeyStatus.ACTIVE, activated_at=ex.NOW + 10)
    assert (await storage.keys.list())[0] == active

    await storage.keys.set_status("kid-1", KeyStatus.RETIRED, retired_at=ex.NOW + 20)
    retired = dataclasses.replace(active, status=KeyStatus.RETIRED, retired_at=ex.NOW + 20)
    listed = await storage.keys.list()
    assert listed[0] == retired
    assert listed[1] == ex.stored_key("kid-2", created_at=ex.NOW + 1)


async def test_unknown_kids_are_ignored(storage: Storage) -> None:
    await storage.keys.set_status("ghost", KeyStatus.ACTIVE, activated_at=ex.NOW)
    await storage.keys.delete("ghost")
    assert await storage.keys.list() == []


async def test_delete_removes_only_that_key(storage: Storage) -> None:
    await storage.keys.add(ex.stored_key("kid-1"))
    await storage.keys.add(ex.stored_key("kid-2"))
    await storage.keys.delete("kid-1")
    assert [k.kid for k in await storage.keys.list()] == ["kid-2"]
