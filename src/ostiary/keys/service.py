"""The signing keys of a running issuer: loaded from storage, created on first start, rotated on
a schedule by exactly one of several processes (a lease decides which).

A new key is announced in the JWKS (as *next*) at least ``announce_ahead`` before it signs, so
that every resource server's cached key set already holds it (the JWK Set of RFC 7517 §5;
rotation as in OpenID Connect Core 1.0 §10.1.1). A retired key stays published for
``retire_after`` — the longest access-token lifetime plus leeway — so the tokens it signed
still verify, then it is removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from ostiary.clock import DAY, SYSTEM_CLOCK, Clock
from ostiary.errors import ConfigurationError, InvalidKey, TemporarilyUnavailable
from ostiary.jose import DEFAULT_ALGORITHM, JWK
from ostiary.jose.algorithms import DEFAULT_RSA_BITS
from ostiary.keys import GENERATED_ALGORITHMS, generate_key
from ostiary.keys.encryption import MasterKey
from ostiary.keys.master_file import load_or_create_master_key
from ostiary.keys.ring import KeyRing, KeyState, ManagedKey
from ostiary.storage.protocols import KeyStore, LeaseStore
from ostiary.storage.records import KeyStatus, StoredKey

__all__ = ["KeyService", "load_or_create_master_key"]

LEASE_NAME: Final = "ostiary.keys"
#: Told of each change of the key set: the kind (``key.generated``, ``key.rotated``,
#: ``key.retired``, ``key.removed``), the kid, and a few facts. The audit trail listens here.
KeyEvents = Callable[[str, str, Mapping[str, str]], Awaitable[None]]
#: How often a process waiting for the key lease (first start, manual rotation) looks again.
LEASE_POLL_SECONDS: Final = 0.05

logger = logging.getLogger(__name__)


def default_holder() -> str:
    """A name for this process in the lease table, unique even across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class KeyService:
    """Loads, creates and rotates the issuer's keys; ``ring`` is the current :class:`KeyRing`.

    Every process calls :meth:`tick` periodically: the lease holder runs the schedule, every
    other process just reloads, and so picks up keys another process added or promoted. A
    process may sign with a key retired up to one tick ago, so ``retire_after`` should also
    cover the tick interval.
    """

    def __init__(
        self,
        store: KeyStore,
        leases: LeaseStore,
        master_key: MasterKey,
        *,
        alg: str = DEFAULT_ALGORITHM,
        clock: Clock = SYSTEM_CLOCK,
        rotation_interval: float = 30 * DAY,
        announce_ahead: float = DAY,
        retire_after: float,
        holder: str | None = None,
        lease_ttl: float = 60.0,
        lease_wait: float = 10.0,
        rsa_bits: int = DEFAULT_RSA_BITS,
        lease_name: str = LEASE_NAME,
        owns: Callable[[str], bool] | None = None,
        on_event: KeyEvents | None = None,
    ) -> None:
        """``owns`` says, by algorithm, which stored keys are this service's when several
        share one store (the access-token keys and the ID-token keys); each needs its own
        ``lease_name``."""
        if alg not in GENERATED_ALGORITHMS:
            raise ConfigurationError(f"cannot generate keys for {alg!r}")
        if not 0 < announce_ahead < rotation_interval:
            raise ConfigurationError("announce_ahead must be positive and below the interval")
        if retire_after <= 0 or lease_ttl <= 0:
            raise ConfigurationError("retire_after and lease_ttl must be positive")
        self._store = store
        self._leases = leases
        self._master = master_key
        self.alg = alg
        self._clock = clock
        self.rotation_interval = rotation_interval
        self.announce_ahead = announce_ahead
        self.retire_after = retire_after
        self.holder = holder or default_holder()
        self._lease_ttl = lease_ttl
        self._lease_wait = lease_wait
        self._rsa_bits = rsa_bits
        self._lease_name = lease_name
        self._owns = owns
        self.on_event = on_event
        self._ring = KeyRing(clock=clock)
        #: What the stored keys were when the ring was last read (:meth:`reload_if_changed`).
        self._loaded_from: tuple[tuple[object, ...], ...] | None = None

    @property
    def ring(self) -> KeyRing:
        return self._ring

    def signing_key(self) -> JWK:
        """The active key, asked for at each signature (``AccessTokenIssuer``'s callable)."""
        return self._ring.signing_key

    def jwks(self) -> dict[str, Any]:
        return self._ring.jwks()

    # --- the public operations -------------------------------------------------------------

    async def load(self) -> KeyRing:
        """Open every stored key with the master key and make it the current ring."""
        _, ring = await self._read()
        return ring

    async def reload_if_changed(self) -> bool:
        """Read the stored keys; only if they differ from those the ring was last read from
        (a key added, promoted, retired or removed by another process, or by this one's
        schedule since), open them and make them the ring. Returns whether they differed.
        Cheap while nothing changed: one read of a few rows, no key opened."""
        stored = await self._stored()
        if _fingerprint(stored) == self._loaded_from:
            return False
        self._install(stored)
        return True

    async def ensure_signing_key(self) -> KeyRing:
        """On first start, create the active key; if another process is creating it, wait for
        that one rather than making a second."""
        deadline = asyncio.get_running_loop().time() + self._lease_wait
        while True:
            ring = await self.load()
            if ring.active is not None:
                return ring
            if await self._acquire():
                try:
                    return await self._bootstrap()
                finally:
                    await self._release()
            await self._pause_until(deadline)

    async def rotate(self) -> KeyRing:
        """Rotate now: the next key (generated if there is none) becomes active, the active
        one is retired. An unannounced key signs at once: for a compromised key, or by hand."""
        deadline = asyncio.get_running_loop().time() + self._lease_wait
        while not await self._acquire():
            await self._pause_until(deadline)
        try:
            _, ring = await self._read()
            if ring.active is None:
                return await self._bootstrap()
            if not ring.in_state(KeyState.NEXT):
                await self._add_key(ring, KeyState.NEXT)
            await self._promote(ring)
            return ring
        finally:
            await self._release()

    async def tick(self) -> KeyRing:
        """The periodic job. Under the lease: announce a next key ``announce_ahead`` before
        the active one is due, rotate when it is due and the next key has been published long
        enough, and remove keys retired more than ``retire_after`` ago."""
        if not await self._acquire():
            await self.reload_if_changed()
            return self._ring
        try:
            await self._run_schedule()
        finally:
            await self._release()
        return self._ring

    # --- the schedule ----------------------------------------------------------------------

    async def _run_schedule(self) -> None:
        stored, ring = await self._read()
        await self._repair(stored, ring)
        active = ring.active
        if active is None:
            await self._bootstrap()
            return
        now = self._clock.now()
        age = now - (active.activated_at or active.created_at)
        waiting = ring.in_state(KeyState.NEXT)
        if not waiting and age >= self.rotation_interval - self.announce_ahead:
            waiting = [await self._add_key(ring, KeyState.NEXT)]
        announced = min((m.created_at for m in waiting), default=now)
        # A late tick never lets an unannounced key sign: it waits its announce time first.
        if age >= self.rotation_interval and now - announced >= self.announce_ahead:
            await self._promote(ring)
        for gone in ring.prune(retired_before=now - self.retire_after):
            await self._store.delete(gone.kid)
            logger.info("removed retired signing key %s", gone.kid)
            await self._tell("key.removed", gone.kid, {"alg": gone.key.alg})

    async def _bootstrap(self) -> KeyRing:
        """Under the lease: make sure an active key exists, promoting a next key if any."""
        _, ring = await self._read()
        if ring.active is None:
            if ring.in_state(KeyState.NEXT):
                await self._promote(ring)
            else:
                await self._add_key(ring, KeyState.ACTIVE)
        return ring

    async def _add_key(self, ring: KeyRing, state: KeyState) -> ManagedKey:
        # RSA generation takes long enough to stall the event loop.
        key = await asyncio.to_thread(generate_key, self.alg, rsa_bits=self._rsa_bits)
        managed = ring.add(key, state=state)
        await self._store.add(
            StoredKey(
                kid=managed.kid,
                alg=key.alg,
                status=KeyStatus(state.value),
                sealed=self._master.seal_key(key),
                created_at=managed.created_at,
                activated_at=managed.activated_at,
            )
        )
        logger.info("added %s signing key %s (%s)", state.value, managed.kid, key.alg)
        await self._tell("key.generated", managed.kid, {"state": state.value, "alg": key.alg})
        return managed

    async def _promote(self, ring: KeyRing) -> None:
        previous = ring.active
        promoted = ring.rotate()
        # Activate first, retire second: a crash in between leaves two active keys, which
        # _read resolves and _repair fixes, never a moment with no signing key.
        await self._store.set_status(
            promoted.kid, KeyStatus.ACTIVE, activated_at=promoted.activated_at
        )
        if previous is not None:  # the ring retired it at the moment it promoted the other
            await self._store.set_status(
                previous.kid, KeyStatus.RETIRED, retired_at=promoted.activated_at
            )
        logger.info("rotated signing keys: %s is active", promoted.kid)
        facts = {"previous": previous.kid} if previous is not None else {}
        await self._tell("key.rotated", promoted.kid, facts)
        if previous is not None:
            await self._tell("key.retired", previous.kid, {"successor": promoted.kid})

    async def _tell(self, kind: str, kid: str, facts: Mapping[str, str]) -> None:
        if self.on_event is None:
            return
        try:
            await self.on_event(kind, kid, facts)
        except Exception:  # the key set changed whatever the listener thinks of it
            logger.exception("key event listener failed on %s of %s", kind, kid)

    async def _repair(self, stored: list[StoredKey], ring: KeyRing) -> None:
        states = {m.kid: m for m in ring}
        for row in stored:
            managed = states[row.kid]
            if row.status == KeyStatus.ACTIVE and managed.state is KeyState.RETIRED:
                await self._store.set_status(
                    row.kid, KeyStatus.RETIRED, retired_at=managed.retired_at
                )

    # --- storage and lease -----------------------------------------------------------------

    async def _read(self) -> tuple[list[StoredKey], KeyRing]:
        stored = await self._stored()
        return stored, self._install(stored)

    async def _stored(self) -> list[StoredKey]:
        return [
            row for row in await self._store.list() if self._owns is None or self._owns(row.alg)
        ]

    def _install(self, stored: list[StoredKey]) -> KeyRing:
        managed = _resolve_actives([self._open(row) for row in stored])
        self._ring = KeyRing(managed, clock=self._clock)
        self._loaded_from = _fingerprint(stored)
        return self._ring

    def _open(self, row: StoredKey) -> ManagedKey:
        key = self._master.open_key(row.sealed, kid=row.kid)
        if key.alg != row.alg:
            raise InvalidKey(f"stored key {row.kid} is for {key.alg}, its row says {row.alg}")
        return ManagedKey(
            key=key,
            state=KeyState(row.status.value),
            created_at=row.created_at,
            activated_at=row.activated_at,
            retired_at=row.retired_at,
        )

    async def _acquire(self) -> bool:
        return await self._leases.acquire(
            self._lease_name, holder=self.holder, now=self._clock.now(), ttl=self._lease_ttl
        )

    async def _release(self) -> None:
        await self._leases.release(self._lease_name, holder=self.holder)

    async def _pause_until(self, deadline: float) -> None:
        if asyncio.get_running_loop().time() >= deadline:
            raise TemporarilyUnavailable(
                "The signing keys are being changed by another process.",
                detail=f"the {self._lease_name} lease stayed taken for {self._lease_wait} s",
            )
        await asyncio.sleep(LEASE_POLL_SECONDS)


def _fingerprint(stored: list[StoredKey]) -> tuple[tuple[object, ...], ...]:
    """What tells two readings of the key store apart (the sealed bytes never change)."""
    return tuple((r.kid, r.status.value, r.activated_at, r.retired_at) for r in stored)


def _resolve_actives(keys: list[ManagedKey]) -> list[ManagedKey]:
    """Of several active keys (a rotation interrupted half-way), the most recently activated
    stays active; the others count as retired from that moment."""
    actives = sorted(
        (m for m in keys if m.state is KeyState.ACTIVE),
        key=lambda m: (m.activated_at or m.created_at, m.kid),
    )
    if len(actives) <= 1:
        return keys
    newest = actives[-1]
    since = newest.activated_at or newest.created_at
    stale = {m.kid for m in actives[:-1]}
    return [
        replace(m, state=KeyState.RETIRED, retired_at=since) if m.kid in stale else m for m in keys
    ]
