"""ConsentStore contract: one consent per user and client, replaced by put."""

from __future__ import annotations

from ostiary.storage import Storage
from tests.contract import examples as ex


async def test_put_consent_reads_back(storage: Storage) -> None:
    consent = ex.consent()
    await storage.consents.put(consent)
    assert await storage.consents.get("u-1", "app-1") == consent
    assert await storage.consents.get("u-1", "other") is None
    assert await storage.consents.get("other", "app-1") is None


async def test_empty_and_odd_scopes_round_trip(storage: Storage) -> None:
    await storage.consents.put(ex.consent("u-1", "a", scopes=frozenset()))
    await storage.consents.put(ex.consent("u-1", "b", scopes=frozenset({"x y", '"q"', "ü"})))
    assert await storage.consents.get("u-1", "a") == ex.consent("u-1", "a", scopes=frozenset())
    found = await storage.consents.get("u-1", "b")
    assert found is not None
    assert found.scopes == frozenset({"x y", '"q"', "ü"})


async def test_put_replaces_the_consent_of_that_pair_only(storage: Storage) -> None:
    first = ex.consent("u-1", "app-1")
    same_user = ex.consent("u-1", "app-2")
    same_client = ex.consent("u-2", "app-1")
    for consent in (first, same_user, same_client):
        await storage.consents.put(consent)
    wider = ex.consent("u-1", "app-1", scopes=frozenset({"openid", "email"}), granted_at=ex.NOW + 9)
    await storage.consents.put(wider)
    assert await storage.consents.get("u-1", "app-1") == wider
    assert await storage.consents.get("u-1", "app-2") == same_user
    assert await storage.consents.get("u-2", "app-1") == same_client


async def test_delete_removes_that_pair_only(storage: Storage) -> None:
    await storage.consents.put(ex.consent("u-1", "app-1"))
    await storage.consents.put(ex.consent("u-1", "app-2"))
    await storage.consents.delete("u-1", "app-1")
    assert await storage.consents.get("u-1", "app-1") is None
    assert await storage.consents.get("u-1", "app-2") == ex.consent("u-1", "app-2")
    await storage.consents.delete("u-1", "app-1")
    await storage.consents.delete("nobody", "nothing")
    assert await storage.consents.get("u-1", "app-2") == ex.consent("u-1", "app-2")
