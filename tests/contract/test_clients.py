"""ClientStore contract: registered OAuth clients."""

from __future__ import annotations

import dataclasses

import pytest

from ostiary.storage import Conflict, Storage
from ostiary.storage.records import ClientAuthMethod
from tests.contract import examples as ex


async def test_created_client_reads_back_with_every_field(storage: Storage) -> None:
    app = ex.client()  # its redirect URIs are not sorted: their order is kept
    await storage.clients.create(app)
    assert await storage.clients.get(app.id) == app
    assert await storage.clients.get("unknown") is None


async def test_none_and_empty_collections_round_trip(storage: Storage) -> None:
    public = dataclasses.replace(
        ex.client("spa"),
        auth_method=ClientAuthMethod.NONE,
        secret_hash=None,
        jwks=None,
        redirect_uris=(),
        post_logout_redirect_uris=(),
        grant_types=frozenset(),
        scopes=frozenset(),
        audiences=frozenset(),
        first_party=True,
    )
    await storage.clients.create(public)
    found = await storage.clients.get("spa")
    assert found == public
    assert found is not None
    assert found.public


async def test_key_clients_and_odd_values_round_trip(storage: Storage) -> None:
    keyed = dataclasses.replace(
        ex.client("svc"),
        auth_method=ClientAuthMethod.PRIVATE_KEY_JWT,
        secret_hash=None,
        jwks='{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg"}]}',
        redirect_uris=('https://b.example/cb?x="1"', "https://a.example/cb"),
        scopes=frozenset({"x y", '"q"', "ünï"}),
        updated_at=ex.NOW + 0.5,
    )
    await storage.clients.create(keyed)
    assert await storage.clients.get("svc") == keyed


async def test_taken_id_conflicts_and_keeps_the_original(storage: Storage) -> None:
    app = ex.client("app-1")
    await storage.clients.create(app)
    with pytest.raises(Conflict):
        await storage.clients.create(dataclasses.replace(app, name="Impostor"))
    assert await storage.clients.get("app-1") == app


async def test_update_replaces_every_field(storage: Storage) -> None:
    app = ex.client()
    await storage.clients.create(app)
    changed = dataclasses.replace(
        app,
        name="Renamed",
        auth_method=ClientAuthMethod.CLIENT_SECRET_POST,
        secret_hash="0" * 64,
        jwks="{}",
        redirect_uris=("https://new.example/cb",),
        post_logout_redirect_uris=(),
        grant_types=frozenset({"client_credentials"}),
        scopes=frozenset({"api"}),
        audiences=frozenset(),
        first_party=True,
        created_at=app.created_at + 1,
        updated_at=app.updated_at + 60.25,
    )
    await storage.clients.update(changed)
    assert await storage.clients.get(app.id) == changed


async def test_back_channel_logout_settings_round_trip_and_update(storage: Storage) -> None:
    """OpenID Connect Back-Channel Logout §2.2: the URI (with a query, no fragment) and
    whether the client needs ``sid``; a client without them has None and True."""
    plain = ex.client("plain")
    assert (plain.backchannel_logout_uri, plain.backchannel_logout_session_required) == (
        None,
        True,
    )
    await storage.clients.create(plain)
    assert await storage.clients.get("plain") == plain
    app = dataclasses.replace(
        ex.client("rp"),
        backchannel_logout_uri="https://rp.example/logout?from=ostiary&x=%20",
        backchannel_logout_session_required=False,
    )
    await storage.clients.create(app)
    assert await storage.clients.get("rp") == app
    cleared = dataclasses.replace(
        app, backchannel_logout_uri=None, backchannel_logout_session_required=True
    )
    await storage.clients.update(cleared)
    assert await storage.clients.get("rp") == cleared


async def test_update_of_an_unknown_client_does_nothing(storage: Storage) -> None:
    await storage.clients.update(ex.client("ghost"))
    assert await storage.clients.get("ghost") is None
    assert await storage.clients.list() == []


async def test_delete_says_whether_the_client_existed(storage: Storage) -> None:
    await storage.clients.create(ex.client("app-1"))
    await storage.clients.create(ex.client("app-2"))
    assert await storage.clients.delete("app-1")
    assert await storage.clients.get("app-1") is None
    assert not await storage.clients.delete("app-1")
    assert not await storage.clients.delete("never")
    assert [c.id for c in await storage.clients.list()] == ["app-2"]


async def test_list_orders_by_creation_then_id_and_pages(storage: Storage) -> None:
    for client_id, created in [("c", 3.0), ("b", 1.0), ("a", 1.0), ("d", 2.0)]:
        await storage.clients.create(ex.client(client_id, created_at=created))
    everyone = await storage.clients.list()
    assert [c.id for c in everyone] == ["a", "b", "d", "c"]
    assert everyone[0] == ex.client("a", created_at=1.0)
    assert [c.id for c in await storage.clients.list(offset=1, limit=2)] == ["b", "d"]
    assert [c.id for c in await storage.clients.list(offset=3, limit=10)] == ["c"]
    assert await storage.clients.list(offset=4) == []
    assert await storage.clients.list(limit=0) == []


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, -1)])
async def test_list_refuses_negative_bounds(storage: Storage, offset: int, limit: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        await storage.clients.list(offset=offset, limit=limit)
