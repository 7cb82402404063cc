"""DPoP (RFC 9449) with its state: the ``jti`` replay cache (§11.1) and server nonces (§8, §9),
around the stateless proof checks of :mod:`ostiary.jose.dpop`.

Both halves use it: the authorization server checks the proofs sent to its token endpoint
(its replay cache is the storage's :class:`~ostiary.storage.protocols.OnceStore`, shared by
every worker and instance), and a resource server the proofs sent with DPoP-bound access
tokens (an in-process :class:`MemoryReplayCache`, or any shared store with ``first_use``).
Nothing here knows of HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import threading
from collections.abc import Collection, Sequence
from hashlib import sha256
from heapq import heappop, heappush
from typing import Final, Protocol, runtime_checkable

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.encoding import b64url
from ostiary.errors import InvalidDPoPProof, TemporarilyUnavailable, UseDPoPNonce
from ostiary.jose.dpop import (
    DEFAULT_PROOF_RULES,
    DPoPProof,
    ProofRules,
    access_token_hash,
    make_proof,
    normalize_htu,
    verify_proof,
)

__all__ = [
    "DEFAULT_NONCE_LIFETIME",
    "DPoPChecker",
    "DPoPNonces",
    "DPoPProof",
    "MemoryReplayCache",
    "ProofRules",
    "ReplayCache",
    "access_token_hash",
    "make_proof",
    "normalize_htu",
]

#: Seconds a server nonce is current; the previous one is still accepted for as long again.
DEFAULT_NONCE_LIFETIME: Final = 300
#: Entries a :class:`MemoryReplayCache` holds: at the default 65 s window, 1,500 proofs a second.
DEFAULT_REPLAY_CAPACITY: Final = 100_000
_NONCE_MAC_BYTES: Final = 16


class ReplayCache(Protocol):
    """Remembers each proof's ``jti`` until it could no longer be accepted (RFC 9449 §11.1).
    :class:`~ostiary.storage.protocols.OnceStore` is one."""

    async def first_use(self, key: str, *, expires_at: float, now: float) -> bool:
        """True the first time ``key`` is seen before ``expires_at``; False for a replay."""
        ...


@runtime_checkable
class SyncReplayCache(Protocol):
    """A replay cache that also answers without awaiting (for WSGI apps)."""

    def first_use_sync(self, key: str, *, expires_at: float, now: float) -> bool: ...


class MemoryReplayCache:
    """An in-process replay cache, bounded: when it holds ``capacity`` unexpired entries it
    refuses new proofs (503) rather than forget one that could still be replayed. Right for a
    single process; several processes or instances need a shared store. Thread-safe: the
    threads of a WSGI server share one, and a look-up and its insertion are one step, so two
    threads racing with the same proof cannot both see it first."""

    def __init__(self, *, capacity: int = DEFAULT_REPLAY_CAPACITY) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._expiries: dict[str, float] = {}
        # (expires_at, key), soonest first. Proofs do not arrive in order of expiry (an iat
        # may be a minute old or a few seconds ahead), so the front of an insertion-ordered
        # dict may hold a live entry with expired ones behind it: a heap finds them all.
        self._queue: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiries)

    def first_use_sync(self, key: str, *, expires_at: float, now: float) -> bool:
        expiries, queue = self._expiries, self._queue
        with self._lock:
            previous = expiries.get(key)
            if previous is not None and previous >= now:
                return False
            # Forget every entry expired before now (this key's own, if it had one, among them).
            while queue and queue[0][0] < now:
                expired, old_key = heappop(queue)
                if expiries.get(old_key) == expired:
                    del expiries[old_key]
            if len(expiries) >= self._capacity:
                raise TemporarilyUnavailable(
                    "Too many DPoP proofs right now; try again later.",
                    detail=f"replay cache full ({self._capacity} entries)",
                )
            until = now if now > expires_at else expires_at
            expiries[key] = until
            heappush(queue, (until, key))
            return True

    async def first_use(self, key: str, *, expires_at: float, now: float) -> bool:
        return self.first_use_sync(key, expires_at=expires_at, now=now)


class DPoPNonces:
    """Server-provided nonces (RFC 9449 §8 and §9) without state: a nonce is the number of the
    current time window and a MAC of it under ``secret``, so every worker and instance that
    shares the secret issues and accepts the same nonces. The current window's nonce and the
    previous one's are accepted, so a nonce lives between ``lifetime`` and twice that."""

    def __init__(self, secret: bytes, *, lifetime: int = DEFAULT_NONCE_LIFETIME) -> None:
        if len(secret) < 32:
            raise ValueError("the nonce secret must have at least 32 bytes")
        if lifetime <= 0:
            raise ValueError("the nonce lifetime must be positive")
        self._key = hashlib.sha256(b"ostiary dpop nonce\x00" + secret).digest()
        self.lifetime = lifetime

    def current(self, now: float) -> str:
        """The nonce to send in ``DPoP-Nonce`` at ``now``."""
        return self._nonce(int(now) // self.lifetime)

    def accepts(self, nonce: str | None, now: float) -> bool:
        # Non-ASCII text is no nonce of ours (and hmac.compare_digest refuses to compare it).
        if not nonce or len(nonce) > 64 or not nonce.isascii():
            return False
        window = int(now) // self.lifetime
        return any(hmac.compare_digest(nonce, self._nonce(w)) for w in (window, window - 1))

    def _nonce(self, window: int) -> str:
        packed = struct.pack(">q", window)
        mac = hmac.new(self._key, packed, hashlib.sha256).digest()[:_NONCE_MAC_BYTES]
        return b64url(packed.lstrip(b"\x00") + mac)


class DPoPChecker:
    """Checks the ``DPoP`` header of one request: exactly one proof (RFC 9449 §4.3 step 1),
    the stateless checks of :func:`~ostiary.jose.dpop.verify_proof`, the server nonce when
    ``nonces`` is given (step 10; a missing or stale one raises
    :class:`~ostiary.errors.UseDPoPNonce` carrying the fresh nonce), and the ``jti`` seen once
    per key (§11.1) in ``replay``."""

    def __init__(
        self,
        replay: ReplayCache,
        *,
        rules: ProofRules = DEFAULT_PROOF_RULES,
        nonces: DPoPNonces | None = None,
        clock: Clock = SYSTEM_CLOCK,
        scope: str = "dpop",
    ) -> None:
        self._replay = replay
        # Looked at once: isinstance against a runtime-checkable Protocol walks its members
        # (2-3 µs), which the sync path would otherwise pay twice a request.
        self._sync_replay = replay if isinstance(replay, SyncReplayCache) else None
        # A MemoryReplayCache answers at once: remember() then calls it without the coroutine
        # its first_use would cost (a subclass may do more, and is awaited like any other).
        self._memory_replay = replay if type(replay) is MemoryReplayCache else None
        self.rules = rules
        self.nonces = nonces
        self._clock = clock
        self._scope = scope

    @property
    def algorithms(self) -> Collection[str]:
        return self.rules.algorithms

    def fresh_nonce(self) -> str | None:
        """The nonce to send in a ``DPoP-Nonce`` header now, if this checker asks for nonces."""
        return None if self.nonces is None else self.nonces.current(self._clock.now())

    @property
    def replay(self) -> ReplayCache:
        """The replay cache the proofs' ``jti`` are remembered in."""
        return self._replay

    @property
    def supports_sync(self) -> bool:
        """Whether :meth:`check_sync` and :meth:`remember_sync` can be used (the replay cache
        answers without awaiting)."""
        return self._sync_replay is not None

    async def check(
        self,
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str | None = None,
    ) -> DPoPProof:
        """The proof among ``proofs`` (every ``DPoP`` header value of the request)."""
        proof = self.verify(proofs, method=method, url=url, access_token=access_token)
        await self.remember(proof)
        return proof

    def check_sync(
        self,
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str | None = None,
    ) -> DPoPProof:
        """:meth:`check` for WSGI apps: needs a replay cache with ``first_use_sync``."""
        if not self.supports_sync:
            raise TypeError("check_sync needs a replay cache with first_use_sync")
        proof = self.verify(proofs, method=method, url=url, access_token=access_token)
        self.remember_sync(proof)
        return proof

    def verify(
        self,
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str | None = None,
    ) -> DPoPProof:
        """:meth:`check` without the replay check: exactly one proof (RFC 9449 §4.3 step 1),
        the stateless checks, and the nonce (step 10). A caller with checks of its own to run
        on the proof (a resource server's ``cnf.jkt``, §7.1) runs them next and then calls
        :meth:`remember`, so that only a proof that passed everything takes a place in the
        replay cache."""
        if not proofs:
            raise InvalidDPoPProof("A DPoP proof is required.", reason="missing")
        if len(proofs) > 1:
            raise InvalidDPoPProof("Send exactly one DPoP proof.", reason="several")
        now = self._clock.now()
        proof = verify_proof(
            proofs[0].strip(),
            method=method,
            url=url,
            now=now,
            rules=self.rules,
            access_token=access_token,
        )
        nonces = self.nonces
        if nonces is not None and not nonces.accepts(proof.nonce, now):
            raise UseDPoPNonce(
                nonces.current(now),
                detail="no nonce" if proof.nonce is None else "a stale or unknown nonce",
            )
        return proof

    async def remember(self, proof: DPoPProof) -> None:
        """Record the proof's ``jti`` (per key) until the proof could no longer be accepted;
        :class:`~ostiary.errors.InvalidDPoPProof` ``replayed`` if it was seen before (§11.1)."""
        now = self._clock.now()
        expires_at = proof.iat + self.rules.remembered_for
        memory = self._memory_replay
        if memory is not None:
            first = memory.first_use_sync(self._replay_key(proof), expires_at=expires_at, now=now)
        else:
            first = await self._replay.first_use(
                self._replay_key(proof), expires_at=expires_at, now=now
            )
        if not first:
            raise InvalidDPoPProof(reason="replayed", detail="the proof's jti was seen before")

    def remember_sync(self, proof: DPoPProof) -> None:
        """:meth:`remember` for WSGI apps: needs a replay cache with ``first_use_sync``."""
        replay = self._sync_replay
        if replay is None:
            raise TypeError("remember_sync needs a replay cache with first_use_sync")
        now = self._clock.now()
        expires_at = proof.iat + self.rules.remembered_for
        if not replay.first_use_sync(self._replay_key(proof), expires_at=expires_at, now=now):
            raise InvalidDPoPProof(reason="replayed", detail="the proof's jti was seen before")

    def _replay_key(self, proof: DPoPProof) -> str:
        digest = sha256(f"{proof.jkt}\x00{proof.jti}".encode()).hexdigest()
        return f"{self._scope}:{digest}"
