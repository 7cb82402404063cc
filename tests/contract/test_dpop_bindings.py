"""DPoP bindings (RFC 9449) kept by every store: the key thumbprint a refresh family (§5) and an
authorization code (§10) are bound to, and a client's ``dpop_bound_access_tokens`` (§5.2), read
back as written through every path that returns the record; unbound is None (False)."""

from __future__ import annotations

import dataclasses

from ostiary.storage import Storage
from tests.contract import examples as ex

#: An RFC 7638 SHA-256 thumbprint (RFC 7638 §3.1's example key).
JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
LATER = ex.NOW + 5


async def test_a_family_keeps_its_key_through_every_read(storage: Storage) -> None:
    bound = dataclasses.replace(ex.session(), dpop_jkt=JKT)
    await storage.sessions.create(bound, ex.token("t-1"))
    assert await storage.sessions.get(bound.id) == bound
    assert await storage.sessions.find_token("t-1") == (ex.token("t-1"), bound)
    assert await storage.sessions.list_for_user(bound.user_id, now=LATER) == [bound]
    rotation = await storage.sessions.rotate("t-1", "t-2", now=LATER, active_since=ex.NOW)
    assert rotation is not None and rotation.rotated and rotation.session == bound
    found = await storage.sessions.find_token("t-2")
    assert found is not None and found[1].dpop_jkt == JKT
    revoked = await storage.sessions.revoke(now=LATER + 1, session_id=bound.id)
    assert [session.dpop_jkt for session in revoked] == [JKT]


async def test_an_unbound_family_reads_back_unbound(storage: Storage) -> None:
    await storage.sessions.create(ex.session(), ex.token("t-1"))
    found = await storage.sessions.get("s-1")
    assert found is not None and found.dpop_jkt is None


async def test_a_code_keeps_its_key_when_consumed_and_on_reuse(storage: Storage) -> None:
    bound = dataclasses.replace(ex.code(), dpop_jkt=JKT)
    await storage.codes.add(bound)
    assert await storage.codes.consume(bound.code_hash, now=LATER) == bound
    again = await storage.codes.consume(bound.code_hash, now=LATER + 1)
    assert again == dataclasses.replace(bound, used_at=LATER)


async def test_an_unbound_code_reads_back_unbound(storage: Storage) -> None:
    await storage.codes.add(ex.code())
    consumed = await storage.codes.consume(ex.code().code_hash, now=LATER)
    assert consumed is not None and consumed.dpop_jkt is None


async def test_a_client_keeps_dpop_bound_access_tokens(storage: Storage) -> None:
    required = dataclasses.replace(ex.client(), dpop_bound_access_tokens=True)
    await storage.clients.create(required)
    assert await storage.clients.get(required.id) == required
    assert await storage.clients.list() == [required]
    await storage.clients.update(dataclasses.replace(required, dpop_bound_access_tokens=False))
    updated = await storage.clients.get(required.id)
    assert updated is not None and not updated.dpop_bound_access_tokens


async def test_a_client_needs_no_proof_unless_registered_so(storage: Storage) -> None:
    await storage.clients.create(ex.client())
    found = await storage.clients.get(ex.client().id)
    assert found is not None and found.dpop_bound_access_tokens is False
