"""The server's own verification keys: a live view of the key service's current ring.

:class:`~ostiary.resource.TokenVerifier` takes a :class:`~ostiary.jose.JWKSet`; this one reads
the ring each time, so a key added, promoted or removed by :meth:`KeyService.tick` (in this
process or another) is seen at once without rebuilding the verifier.

Several processes (the workers of ``ostiary serve --workers N``, other instances, the CLI's
``keys rotate``) share one key store, and each holds its ring in memory. A token may name a key
this process has not read yet: :class:`RingReload` reads the store again then, at most once per
interval, so that such a token is accepted at its first try and made-up ``kid`` values cannot
turn every request into a database read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Protocol

from ostiary.jose import JWK, JWKSet
from ostiary.keys.ring import KeyRing

#: Reads the store again if it may hold keys the ring lacks; True if the ring may have changed.
Reload = Callable[[], Awaitable[bool]]


class _RingSource(Protocol):
    """What :class:`~ostiary.keys.service.KeyService` offers: its current ring."""

    @property
    def ring(self) -> KeyRing: ...


class _Reloadable(Protocol):
    async def reload_if_changed(self) -> bool: ...


class RingReload:
    """Reload ``services`` (:meth:`KeyService.reload_if_changed`) when asked, at most once per
    ``interval`` seconds; ``on_change`` is called when the stored keys had changed (to tell
    the other processes). Callers that waited for a reload under way share its outcome."""

    def __init__(
        self,
        services: Sequence[_Reloadable],
        *,
        interval: float,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._services = list(services)
        self._interval = interval
        self._on_change = on_change
        self._next = float("-inf")
        self._lock = asyncio.Lock()
        #: How many times the store was read (for tests and metrics).
        self.reloads = 0
        self._last_changed = False

    async def __call__(self) -> bool:
        seen = self.reloads
        async with self._lock:
            if self.reloads != seen:  # another caller reloaded while this one waited
                return self._last_changed
            if asyncio.get_running_loop().time() < self._next:
                return False
            self._next = asyncio.get_running_loop().time() + self._interval
            self.reloads += 1
            changed = False
            for service in self._services:
                changed = await service.reload_if_changed() or changed
            self._last_changed = changed
        if changed and self._on_change is not None:
            self._on_change()
        return changed


class LiveKeySet(JWKSet):
    """Public halves of the keys in whatever ring ``attach`` was given; empty before that."""

    __slots__ = ("_reload", "_ring_of")

    def __init__(self) -> None:
        super().__init__(())
        self._ring_of: _RingSource | None = None
        self._reload: Reload | None = None

    def attach(self, source: _RingSource, *, reload: Reload | None = None) -> None:
        """Read keys from ``source``'s ring; ``reload`` (a :class:`RingReload`) is what
        :meth:`reload` asks for a ``kid`` the ring lacks."""
        self._ring_of = source
        self._reload = reload

    async def reload(self) -> bool:
        """Read the store again (bounded, see :class:`RingReload`); True if the ring may now
        hold keys it did not. False when nothing to reload from was attached."""
        return await self._reload() if self._reload is not None else False

    def _ring(self) -> KeyRing | None:
        return self._ring_of.ring if self._ring_of is not None else None

    def get(self, kid: str | None) -> JWK | None:
        ring = self._ring()
        return ring.get(kid) if ring is not None else None

    def __iter__(self) -> Iterator[JWK]:
        ring = self._ring()
        return iter([m.key.public() for m in ring] if ring is not None else [])

    def __len__(self) -> int:
        ring = self._ring()
        return len(ring) if ring is not None else 0

    def __contains__(self, kid: object) -> bool:
        return isinstance(kid, str) and self.get(kid) is not None
