"""The signing-key lifecycle: next → active → retired.

At most one key is active and signs. A *next* key is published before it signs, so that every
resource server's JWKS cache already holds it on the day it starts signing; a *retired* key stays
published until the last token it signed has expired (RFC 7517 §5, RFC 8725 §3.4 on key
strength; the rotation schedule itself belongs to the server).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import ConfigurationError, InvalidKey
from ostiary.jose import JWK


class KeyState(StrEnum):
    NEXT = "next"
    ACTIVE = "active"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class ManagedKey:
    """A key and where it stands in its lifecycle; times are Unix seconds."""

    key: JWK
    state: KeyState
    created_at: float
    activated_at: float | None = None
    retired_at: float | None = None

    @property
    def kid(self) -> str:
        return self.key.kid


class KeyRing:
    """The keys an issuer holds. Only the active key signs; every key verifies."""

    def __init__(self, keys: Iterable[ManagedKey] = (), *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._keys: dict[str, ManagedKey] = {}
        for managed in keys:
            self._insert(managed)

    def _insert(self, managed: ManagedKey) -> None:
        if managed.kid in self._keys:
            raise InvalidKey(f"the ring already holds kid {managed.kid!r}")
        if not managed.key.is_private:
            raise InvalidKey("a key ring holds private keys; it publishes their public halves")
        if managed.state is KeyState.ACTIVE and self.active is not None:
            raise ConfigurationError("a key ring has at most one active key")
        if managed.state is KeyState.RETIRED and managed.retired_at is None:
            raise ConfigurationError("a retired key needs the time it was retired")
        self._keys[managed.kid] = managed

    # --- lifecycle -------------------------------------------------------------------------

    def add(self, key: JWK, *, state: KeyState = KeyState.NEXT) -> ManagedKey:
        """Add a key as *next* (published, not yet signing) or as *active* when the ring has
        no active key."""
        if state is KeyState.RETIRED:
            raise ConfigurationError("a new key starts as next or active")
        now = self._clock.now()
        managed = ManagedKey(
            key=key,
            state=state,
            created_at=now,
            activated_at=now if state is KeyState.ACTIVE else None,
        )
        self._insert(managed)
        return managed

    def rotate(self) -> ManagedKey:
        """Promote the oldest *next* key to *active* and retire the active one."""
        waiting = sorted(self.in_state(KeyState.NEXT), key=lambda m: m.created_at)
        if not waiting:
            raise ConfigurationError("no next key to rotate to; add one first")
        now = self._clock.now()
        current = self.active
        if current is not None:
            self._keys[current.kid] = replace(current, state=KeyState.RETIRED, retired_at=now)
        promoted = replace(waiting[0], state=KeyState.ACTIVE, activated_at=now)
        self._keys[promoted.kid] = promoted
        return promoted

    def remove(self, kid: str) -> ManagedKey:
        """Forget a retired or next key; the active key is never removed."""
        managed = self._keys.get(kid)
        if managed is None:
            raise KeyError(kid)
        if managed.state is KeyState.ACTIVE:
            raise ConfigurationError("rotate before removing the active key")
        del self._keys[kid]
        return managed

    def prune(self, *, retired_before: float) -> list[ManagedKey]:
        """Remove keys retired before ``retired_before``: every token they signed has expired."""
        gone = [
            m
            for m in self.in_state(KeyState.RETIRED)
            if m.retired_at is not None and m.retired_at < retired_before
        ]
        for managed in gone:
            del self._keys[managed.kid]
        return gone

    # --- lookups ---------------------------------------------------------------------------

    @property
    def active(self) -> ManagedKey | None:
        return next((m for m in self._keys.values() if m.state is KeyState.ACTIVE), None)

    @property
    def signing_key(self) -> JWK:
        active = self.active
        if active is None:
            raise ConfigurationError("the key ring has no active key")
        return active.key

    def in_state(self, state: KeyState) -> list[ManagedKey]:
        return [m for m in self._keys.values() if m.state is state]

    def get(self, kid: str | None) -> JWK | None:
        """The public half of a key of any state, for verification (the ``KeyLookup`` protocol).

        A token without ``kid`` never matches: Ostiary always names its key.
        """
        managed = self._keys.get(kid) if kid is not None else None
        return managed.key.public() if managed is not None else None

    def __iter__(self) -> Iterator[ManagedKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document: next, active and retired asymmetric keys, public members
        only (``kid``, ``kty``, ``alg``, ``use: sig`` and the key's public parameters)."""
        order = {KeyState.ACTIVE: 0, KeyState.NEXT: 1, KeyState.RETIRED: 2}
        published = sorted(self._keys.values(), key=lambda m: (order[m.state], -m.created_at))
        return {"keys": [m.key.public_dict() for m in published if not m.key.is_symmetric]}
