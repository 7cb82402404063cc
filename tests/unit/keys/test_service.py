"""``KeyService``: first-start bootstrap, manual rotation, the schedule, and one rotator
among several processes sharing a store."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import ConfigurationError, InvalidKey, TemporarilyUnavailable
from ostiary.jose import parse_compact
from ostiary.keys import KeyState, MasterKey
from ostiary.keys.service import LEASE_NAME, KeyService
from ostiary.storage.memory import MemoryKeyStore, MemoryLeaseStore, MemoryStorage
from ostiary.storage.records import KeyStatus
from ostiary.tokens import AccessTokenIssuer

T0 = 1_700_000_000.0
DAY = 86_400.0
INTERVAL = 30 * DAY
AHEAD = DAY
RETIRE = 900.0 + 30.0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture(scope="module")
def master() -> MasterKey:
    return MasterKey.generate()


def service(
    storage: MemoryStorage,
    master: MasterKey,
    clock: FrozenClock,
    *,
    holder: str = "a",
    lease_wait: float = 2.0,
) -> KeyService:
    return KeyService(
        storage.keys,
        storage.leases,
        master,
        clock=clock,
        rotation_interval=INTERVAL,
        announce_ahead=AHEAD,
        retire_after=RETIRE,
        holder=holder,
        lease_wait=lease_wait,
    )


@pytest.fixture
def keys(storage: MemoryStorage, master: MasterKey, clock: FrozenClock) -> KeyService:
    return service(storage, master, clock)


# --- first start -----------------------------------------------------------------------------


async def test_first_start_creates_one_sealed_active_es256_key(
    keys: KeyService, storage: MemoryStorage, master: MasterKey
) -> None:
    ring = await keys.ensure_signing_key()
    assert ring.active is not None and ring.signing_key.alg == "ES256"
    (row,) = await storage.keys.list()
    assert (row.kid, row.status, row.alg, row.activated_at) == (
        ring.active.kid,
        KeyStatus.ACTIVE,
        "ES256",
        T0,
    )
    assert '"d"' not in row.sealed.decode()  # the private part is encrypted
    assert json.loads(row.sealed)["mk"] == master.key_id
    assert master.open_key(row.sealed, kid=row.kid) == ring.signing_key
    await keys.ensure_signing_key()
    assert len(await storage.keys.list()) == 1


async def test_two_processes_starting_at_once_make_one_key(
    storage: MemoryStorage, master: MasterKey, clock: FrozenClock
) -> None:
    a = service(storage, master, clock, holder="a")
    b = service(storage, master, clock, holder="b")
    ring_a, ring_b = await asyncio.gather(a.ensure_signing_key(), b.ensure_signing_key())
    assert len(await storage.keys.list()) == 1
    assert ring_a.signing_key == ring_b.signing_key


async def test_a_process_waits_for_the_lease_holder_then_gives_up(
    storage: MemoryStorage, master: MasterKey, clock: FrozenClock
) -> None:
    assert await storage.leases.acquire(LEASE_NAME, holder="other", now=T0, ttl=60)
    waiting = service(storage, master, clock, holder="b", lease_wait=0.1)
    with pytest.raises(TemporarilyUnavailable):
        await waiting.ensure_signing_key()
    assert await storage.keys.list() == []


async def test_an_expired_lease_does_not_block_forever(
    storage: MemoryStorage, master: MasterKey, clock: FrozenClock
) -> None:
    assert await storage.leases.acquire(LEASE_NAME, holder="crashed", now=T0, ttl=60)
    clock.advance(61)
    ring = await service(storage, master, clock, holder="b").ensure_signing_key()
    assert ring.active is not None


async def test_a_wrong_master_key_cannot_load(
    keys: KeyService, storage: MemoryStorage, clock: FrozenClock
) -> None:
    await keys.ensure_signing_key()
    with pytest.raises(InvalidKey):
        await service(storage, MasterKey.generate(), clock).load()


# --- manual rotation -------------------------------------------------------------------------


async def test_rotate_generates_a_next_key_when_none_and_retires_the_active(
    keys: KeyService, storage: MemoryStorage, clock: FrozenClock
) -> None:
    first = (await keys.ensure_signing_key()).signing_key
    clock.advance(3600)
    ring = await keys.rotate()
    assert ring.signing_key != first
    assert Counter(m.state for m in ring) == {KeyState.ACTIVE: 1, KeyState.RETIRED: 1}
    stored = {k.kid: k for k in await storage.keys.list()}
    assert (stored[first.kid].status, stored[first.kid].retired_at) == (
        KeyStatus.RETIRED,
        T0 + 3600,
    )
    assert stored[ring.signing_key.kid].status is KeyStatus.ACTIVE
    reloaded = await service(storage, keys._master, clock, holder="z").load()
    assert reloaded.signing_key == ring.signing_key


async def test_rotate_promotes_an_announced_next_key(
    keys: KeyService, storage: MemoryStorage, clock: FrozenClock
) -> None:
    await keys.ensure_signing_key()
    clock.advance(INTERVAL - AHEAD)
    await keys.tick()
    (announced,) = keys.ring.in_state(KeyState.NEXT)
    await keys.rotate()
    assert keys.ring.signing_key.kid == announced.kid
    assert len(await storage.keys.list()) == 2


async def test_rotate_on_an_empty_store_bootstraps(keys: KeyService) -> None:
    ring = await keys.rotate()
    assert ring.active is not None and len(ring) == 1


async def test_the_issuer_signs_with_the_new_key_after_rotation(
    keys: KeyService, clock: FrozenClock
) -> None:
    await keys.ensure_signing_key()
    issuer = AccessTokenIssuer(keys.signing_key, issuer="https://a", audience="b", clock=clock)
    before = issuer.issue(subject="u", client_id="c", scope="").token
    await keys.rotate()
    after = issuer.issue(subject="u", client_id="c", scope="").token
    assert parse_compact(before).kid != parse_compact(after).kid == keys.ring.signing_key.kid


# --- the schedule ----------------------------------------------------------------------------


async def test_the_schedule_announces_rotates_and_removes(
    keys: KeyService, clock: FrozenClock
) -> None:
    first = (await keys.ensure_signing_key()).signing_key
    clock.advance(INTERVAL - AHEAD - 1)
    await keys.tick()
    assert len(keys.ring) == 1
    clock.advance(1)
    await keys.tick()
    (announced,) = keys.ring.in_state(KeyState.NEXT)
    assert [k["kid"] for k in keys.jwks()["keys"]] == [first.kid, announced.kid]
    assert keys.signing_key() == first  # published, not signing
    clock.advance(AHEAD)
    await keys.tick()
    assert keys.signing_key().kid == announced.kid
    assert [k["kid"] for k in keys.jwks()["keys"]] == [announced.kid, first.kid]
    clock.advance(RETIRE)
    await keys.tick()
    assert len(keys.ring) == 2  # retired exactly retire_after ago: still published
    clock.advance(1)
    await keys.tick()
    assert [k["kid"] for k in keys.jwks()["keys"]] == [announced.kid]


async def test_a_late_tick_announces_before_it_rotates(
    keys: KeyService, clock: FrozenClock
) -> None:
    first = (await keys.ensure_signing_key()).signing_key
    clock.advance(INTERVAL + 10 * DAY)  # every process was down during the announce window
    await keys.tick()
    assert keys.signing_key() == first and len(keys.ring.in_state(KeyState.NEXT)) == 1
    clock.advance(AHEAD - 1)
    await keys.tick()
    assert keys.signing_key() == first
    clock.advance(1)
    await keys.tick()
    assert keys.signing_key() != first


async def test_of_two_processes_only_one_rotates(
    storage: MemoryStorage, master: MasterKey, clock: FrozenClock
) -> None:
    a = service(storage, master, clock, holder="a")
    b = service(storage, master, clock, holder="b")
    await a.ensure_signing_key()
    await b.load()
    for step in (INTERVAL - AHEAD, AHEAD):
        clock.advance(step)
        await asyncio.gather(a.tick(), b.tick())
    rows = await storage.keys.list()
    assert sorted(r.status for r in rows) == [KeyStatus.ACTIVE, KeyStatus.RETIRED]
    assert a.signing_key() == b.signing_key()


async def test_a_process_without_the_lease_only_reloads(
    storage: MemoryStorage, master: MasterKey, clock: FrozenClock
) -> None:
    a = service(storage, master, clock, holder="a")
    b = service(storage, master, clock, holder="b")
    await a.ensure_signing_key()
    assert await storage.leases.acquire(LEASE_NAME, holder="a", now=clock.now(), ttl=2 * INTERVAL)
    clock.advance(INTERVAL)
    await b.tick()
    assert len(await storage.keys.list()) == 1
    assert b.signing_key() == a.signing_key()
    await storage.leases.release(LEASE_NAME, holder="a")
    await a.tick()
    await b.tick()  # b now sees what a announced
    assert len(b.ring.in_state(KeyState.NEXT)) == 1


async def test_a_rotation_cut_in_half_is_resolved_and_repaired(
    keys: KeyService, storage: MemoryStorage, clock: FrozenClock
) -> None:
    first = (await keys.ensure_signing_key()).signing_key
    clock.advance(INTERVAL - AHEAD)
    await keys.tick()
    (announced,) = keys.ring.in_state(KeyState.NEXT)
    clock.advance(60)
    # The process died after activating the new key and before retiring the old one.
    await storage.keys.set_status(announced.kid, KeyStatus.ACTIVE, activated_at=clock.now())
    ring = await keys.load()
    assert ring.signing_key.kid == announced.kid
    assert {m.kid: m.state for m in ring}[first.kid] is KeyState.RETIRED
    await keys.tick()
    assert {k.kid: k.status for k in await storage.keys.list()}[first.kid] is KeyStatus.RETIRED


@pytest.mark.parametrize(
    ("interval", "ahead", "retire"), [(DAY, DAY, RETIRE), (DAY, 0.0, RETIRE), (DAY, 60.0, 0.0)]
)
def test_impossible_schedules_are_refused(
    master: MasterKey, interval: float, ahead: float, retire: float
) -> None:
    with pytest.raises(ConfigurationError):
        KeyService(
            MemoryKeyStore(),
            MemoryLeaseStore(),
            master,
            rotation_interval=interval,
            announce_ahead=ahead,
            retire_after=retire,
        )


def test_an_algorithm_without_key_generation_is_refused(master: MasterKey) -> None:
    with pytest.raises(ConfigurationError):
        KeyService(MemoryKeyStore(), MemoryLeaseStore(), master, alg="none", retire_after=RETIRE)


async def test_another_algorithm_is_used_when_configured(
    storage: MemoryStorage, master: MasterKey, clock: FrozenClock
) -> None:
    keys = KeyService(
        storage.keys, storage.leases, master, alg="EdDSA", clock=clock, retire_after=RETIRE
    )
    assert (await keys.ensure_signing_key()).signing_key.alg == "EdDSA"
    assert keys.holder  # a generated name for this process


async def test_two_key_sets_share_one_store_each_keeping_to_its_own(
    storage: MemoryStorage, master: MasterKey, clock: FrozenClock
) -> None:
    """The server's access-token keys (ES256) and ID-token keys (RS256): each service sees,
    rotates and prunes only its own, under its own lease, so neither blocks the other."""

    def keys(alg: str, lease: str, owns: Callable[[str], bool]) -> KeyService:
        return KeyService(
            storage.keys,
            storage.leases,
            master,
            alg=alg,
            clock=clock,
            rotation_interval=INTERVAL,
            announce_ahead=AHEAD,
            retire_after=RETIRE,
            holder="a",
            lease_wait=0.2,
            rsa_bits=2048,
            lease_name=lease,
            owns=owns,
        )

    access = keys("ES256", LEASE_NAME, lambda alg: alg != "RS256")
    id_tokens = keys("RS256", "ostiary.keys.id_tokens", lambda alg: alg == "RS256")
    await access.ensure_signing_key()
    await id_tokens.ensure_signing_key()
    assert {m.key.alg for m in access.ring} == {"ES256"}
    assert {m.key.alg for m in id_tokens.ring} == {"RS256"}

    es_kid = access.ring.signing_key.kid
    await id_tokens.rotate()
    await access.load()
    assert access.ring.signing_key.kid == es_kid
    assert len(id_tokens.ring) == 2
    assert len(await storage.keys.list()) == 3
    # Holding one lease does not keep the other service from its schedule.
    assert await storage.leases.acquire(LEASE_NAME, holder="b", now=clock.now(), ttl=60)
    await id_tokens.rotate()


# --- keys changed by another process -----------------------------------------------------------


async def test_reload_if_changed_reads_the_keys_again_only_when_another_process_changed_them(
    storage: MemoryStorage, master: MasterKey, clock: FrozenClock
) -> None:
    a = service(storage, master, clock, holder="a")
    b = service(storage, master, clock, holder="b")
    await a.ensure_signing_key()
    await b.load()
    ring = b.ring
    assert not await b.reload_if_changed()
    assert b.ring is ring  # nothing opened again
    await a.rotate()  # e.g. `ostiary keys rotate`, or another worker's schedule
    assert await b.reload_if_changed()
    assert b.signing_key() == a.signing_key()
    assert not await b.reload_if_changed()
