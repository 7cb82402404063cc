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

from ostiary.access_claims import AccessClaims

DEFAULT_CACHE_SIZE: Final = 10_000


class VerifiedTokenCache:
    """LRU of ``sha256(token) → AccessClaims``; thread-safe, for sync and async verifiers."""

    __slots__ = ("_lock", "_touch", "entries", "maxsize")

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be zero (off) or positive")
        self.maxsize = maxsize
        # key → (exp, claims): exp kept beside the claims so that a hit reads no property.
        # Public for the verifier's inlined hit path; write only through the methods.
        self.entries: OrderedDict[bytes, tuple[float, AccessClaims]] = OrderedDict()
        self._lock = threading.Lock()
        self._touch = self.entries.move_to_end

    @staticmethod
    def key(token: str | bytes) -> bytes:
        raw = token.encode() if isinstance(token, str) else token
        return hashlib.sha256(raw).digest()

    def get(self, key: bytes, now: float) -> AccessClaims | None:
        """The claims cached under ``key`` if their token has not expired (the hot path)."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if now < entry[0]:
            try:
                self._touch(key)
            except KeyError:  # dropped by another thread meanwhile
                return None
            return entry[1]
        with self._lock:
            self.entries.pop(key, None)
        return None

    def put(self, key: bytes, claims: AccessClaims, now: float) -> None:
        exp = claims.exp
        if self.maxsize == 0 or now >= exp:
            return
        with self._lock:
            self.entries[key] = (exp, claims)
            self.entries.move_to_end(key)
            while len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)

    def drop(
        self, *, jti: str | None = None, sid: str | None = None, sub: str | None = None
    ) -> int:
        """Drop every entry matching any of the given ``jti``, ``sid`` or ``sub``."""
        with self._lock:
            doomed = [
                key
                for key, (_, claims) in self.entries.items()
                if (jti is not None and claims.jti == jti)
                or (sid is not None and claims.sid == sid)
                or (sub is not None and claims.sub == sub)
            ]
            for key in doomed:
                del self.entries[key]
        return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)
