"""The server's own verification keys across processes: a token signed with a key another
process just made verifies at once (the ring is read again for a ``kid`` it lacks), and made-up
``kid`` values cannot make a process read the store more than once per interval."""

from __future__ import annotations

import asyncio

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import UnknownKey
from ostiary.keys import MasterKey
from ostiary.keys.live import LiveKeySet, RingReload
from ostiary.keys.service import KeyService
from ostiary.own_verifier import OwnTokenVerifier
from ostiary.storage.memory import MemoryStorage
from ostiary.tokens import AccessTokenIssuer

T0 = 1_700_000_000.0
ISSUER = "https://issuer.example"
AUDIENCE = "api"


def key_service(
    storage: MemoryStorage, master: MasterKey, clock: FrozenClock, holder: str
) -> KeyService:
    return KeyService(
        storage.keys, storage.leases, master, clock=clock, retire_after=960.0, holder=holder
    )


@pytest.fixture
async def two_processes() -> tuple[KeyService, KeyService, FrozenClock]:
    """Two key services on one store: two worker processes (or a worker and the CLI)."""
    storage, master, clock = MemoryStorage(), MasterKey.generate(), FrozenClock(T0)
    signer = key_service(storage, master, clock, "signer")
    verifier_side = key_service(storage, master, clock, "verifier")
    await signer.ensure_signing_key()
    await verifier_side.load()
    return signer, verifier_side, clock


def token_of(keys: KeyService, clock: FrozenClock) -> str:
    issuer = AccessTokenIssuer(keys.signing_key, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    return issuer.issue(subject="u1", client_id="c", scope="").token


def verifier_over(keys: KeyService, clock: FrozenClock, reload: RingReload) -> OwnTokenVerifier:
    view = LiveKeySet()
    view.attach(keys, reload=reload)
    return OwnTokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=view, clock=clock)


async def test_a_token_of_a_key_rotated_elsewhere_verifies_at_the_first_try(
    two_processes: tuple[KeyService, KeyService, FrozenClock],
) -> None:
    signer, local, clock = two_processes
    changed: list[bool] = []
    reload = RingReload([local], interval=1.0, on_change=lambda: changed.append(True))
    verifier = verifier_over(local, clock, reload)
    await signer.rotate()
    claims = await verifier.verify(token_of(signer, clock))
    assert claims.sub == "u1"
    assert local.signing_key() == signer.signing_key()
    assert changed == [True]  # the other processes are told too
    assert reload.reloads == 1


async def test_made_up_kids_read_the_store_at_most_once_per_interval(
    two_processes: tuple[KeyService, KeyService, FrozenClock],
) -> None:
    _, local, clock = two_processes
    reload = RingReload([local], interval=3600.0)
    verifier = verifier_over(local, clock, reload)
    stranger = KeyService(
        MemoryStorage().keys,
        MemoryStorage().leases,
        MasterKey.generate(),
        clock=clock,
        retire_after=960.0,
    )
    await stranger.ensure_signing_key()
    for _ in range(20):
        with pytest.raises(UnknownKey):
            await verifier.verify(token_of(stranger, clock))
    assert reload.reloads == 1
    assert not await reload()


async def test_requests_waiting_for_one_reload_all_find_the_new_key(
    two_processes: tuple[KeyService, KeyService, FrozenClock],
) -> None:
    signer, local, clock = two_processes
    reload = RingReload([local], interval=3600.0)
    verifier = verifier_over(local, clock, reload)
    await signer.rotate()
    tokens = [token_of(signer, clock) for _ in range(10)]
    verified = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert [c.sub for c in verified] == ["u1"] * 10
    assert reload.reloads == 1
