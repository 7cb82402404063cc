"""A bounded cache of verified tokens, so that a repeated token costs a hash and a lookup.

Entries are keyed by the SHA-256 of the token, never the token itself; an entry never outlives
the token's ``exp``; entries can be dropped by ``jti``, ``sid`` or ``sub`` when a revocation
arrives.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Final

from ostiary.resource.claims import AccessClaims

DEFAULT_CACHE_SIZE: Final = 10_000


class VerifiedTokenCache:
    """LRU of ``sha256(token) → AccessClaims``; thread-safe, for sync and async verifiers."""

    __slots__ = ("_entries", "_lock", "maxsize")

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be zero (off) or positive")
        self.maxsize = maxsize
        self._entries: OrderedDict[bytes, AccessClaims] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(token: str | bytes) -> bytes:
        raw = token.encode() if isinstance(token, str) else token
        return hashlib.sha256(raw).digest()

    def get(self, key: bytes, now: float) -> AccessClaims | None:
        claims = self._entries.get(key)
        if claims is None:
            return None
        if now >= claims.exp:
            with self._lock:
                self._entries.pop(key, None)
            return None
        try:
            self._entries.move_to_end(key)
        except KeyError:  # dropped by another thread between the two lines
            return None
        return claims

    def put(self, key: bytes, claims: AccessClaims, now: float) -> None:
        if self.maxsize == 0 or now >= claims.exp:
            return
        with self._lock:
            self._entries[key] = claims
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def drop(
        self, *, jti: str | None = None, sid: str | None = None, sub: str | None = None
    ) -> int:
        """Drop every entry matching any of the given ``jti``, ``sid`` or ``sub``."""
        with self._lock:
            doomed = [
                key
                for key, claims in self._entries.items()
                if (jti is not None and claims.jti == jti)
                or (sid is not None and claims.sid == sid)
                or (sub is not None and claims.sub == sub)
            ]
            for key in doomed:
                del self._entries[key]
        return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
