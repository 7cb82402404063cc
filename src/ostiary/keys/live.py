"""The server's own verification keys: a live view of the key service's current ring.

:class:`~ostiary.resource.TokenVerifier` takes a :class:`~ostiary.jose.JWKSet`; this one reads
the ring each time, so a key added, promoted or removed by :meth:`KeyService.tick` (in this
process or another) is seen at once without rebuilding the verifier.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ostiary.jose import JWK, JWKSet
from ostiary.keys.ring import KeyRing


class _RingSource(Protocol):
    """What :class:`~ostiary.keys.service.KeyService` offers: its current ring."""

    @property
    def ring(self) -> KeyRing: ...


class LiveKeySet(JWKSet):
    """Public halves of the keys in whatever ring ``attach`` was given; empty before that."""

    __slots__ = ("_ring_of",)

    def __init__(self) -> None:
        super().__init__(())
        self._ring_of: _RingSource | None = None

    def attach(self, source: _RingSource) -> None:
        self._ring_of = source

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
