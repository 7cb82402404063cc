"""Abuse protection: rate limits per address, account, refresh token and client, and an
exponential back-off after repeated failed logins for one account from one address.

The counters live in a ``limits`` async storage: in this process by default, in Redis when the
instances of a deployment share them, in the SQL database when the worker processes of one
server share them without Redis (``ostiary.storage.sql.counters``). While that storage fails
(Redis down, or too slow), the throttle counts in this process instead and tries it again every
:data:`STORE_RETRY_SECONDS`: the limits and the back-off still hold, per process, and sign-in
stays available (docs/deployment.md, "When Redis is down").

A key never holds a username, a token or an address as sent: each identifier is a keyed
BLAKE2b digest of its normalized form. A login is throttled by what was typed, never by what
exists, so an unknown username is throttled exactly like a known one; and the back-off is per
account *and* address, so an attacker cannot lock a user out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage as LimitsMemoryStorage
from limits.aio.storage import Storage as LimitsStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError as CounterStoreError

from ostiary.authn.accounts import normalize_username
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import (
    CurrentPasswordIncorrect,
    InvalidCredentials,
    InvalidUsername,
    RateLimited,
)
from ostiary.storage.rate_limits import SweepingMemoryStorage, close_counter_storage

log = logging.getLogger(__name__)
T = TypeVar("T")
#: What the throttle counts in: any ``limits`` async storage with the sliding window counter
#: (memory, Redis, or ``ostiary.storage.sql.counters`` for worker processes sharing a database).
CounterStorage = LimitsStorage

#: ``limits`` keeps its windows on its own time (``time.time``); it cannot take a clock. The
#: back-off, which is ours, runs on the injected clock.
LIBRARY_CLOCK: Final = SYSTEM_CLOCK
#: Consecutive login failures are forgotten this long after the first (or at a success).
FAILURE_MEMORY_SECONDS: Final = 86_400
_UNKNOWN_ADDRESS: Final = "unknown"
#: How long one throttle check may wait for the shared storage before counting locally.
STORE_TIMEOUT_SECONDS: Final = 1.0
#: After the shared storage failed, count locally this long before trying it again.
STORE_RETRY_SECONDS: Final = 5.0
# What a failing storage raises: limits' wrapper of the client's errors, our own timeout, and
# a socket error that escaped both.
_STORE_FAILURES: Final = (CounterStoreError, TimeoutError, OSError)
#: What counts as a failed attempt: a wrong password at a login, or a wrong current password
#: at a password change (one counter for both: ASVS 2.2.1).
_WRONG_PASSWORD: Final = (InvalidCredentials, CurrentPasswordIncorrect)


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """The limits, in ``limits`` notation (``"10/minute"``, several joined by ``;``)."""

    #: Login attempts per account and address (``/auth/login`` and the authorize form).
    login: str = "10/minute"
    #: Login attempts per address, whatever the account (credential stuffing).
    login_address: str = "60/minute"
    #: Registrations per address.
    register: str = "10/hour"
    #: Refreshes per address. (None per refresh token: each is single use, and a used one
    #: presented again ends its whole family, so a limit per token would guard nothing.)
    refresh_address: str = "300/minute"
    #: Token requests per client id (per address when the client names itself by assertion).
    token: str = "600/minute"
    #: Consecutive failures for one account and address before the back-off starts.
    backoff_after: int = 5
    #: The first wait; each further failure doubles it...
    backoff_base_seconds: float = 1.0
    #: ...up to this.
    backoff_max_seconds: float = 900.0

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure."""
        if failures < self.backoff_after:
            return 0.0
        doublings = min(failures - self.backoff_after, 60)
        return float(min(self.backoff_base_seconds * 2.0**doublings, self.backoff_max_seconds))


@dataclass(frozen=True, slots=True)
class _Counters:
    storage: LimitsStorage
    limiter: SlidingWindowCounterRateLimiter

    @classmethod
    def over(cls, storage: LimitsStorage) -> _Counters:
        # Two counters per key whatever the limit (a moving window keeps one timestamp per
        # request: memory and time that grow with the limit); weighted, so no burst of twice
        # the limit at a window edge, as a fixed window allows.
        return cls(storage, SlidingWindowCounterRateLimiter(storage))

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """``limiter.hit``: in this process's memory straight to the storage's own hit
        (:meth:`~ostiary.storage.rate_limits.SweepingMemoryStorage.hit_sliding_window`), past
        the wrappers a call through ``limits`` crosses."""
        storage = self.storage
        if isinstance(storage, SweepingMemoryStorage):
            key = item.key_for(*identifiers)
            return await storage.hit_sliding_window(key, item.amount, item.get_expiry())
        return await self.limiter.hit(item, *identifiers)


class Throttle:
    """Checks each attempt against its limits; raises :class:`~ostiary.errors.RateLimited`
    (429 with ``Retry-After``) when one is spent. Disabled, every check passes.

    A storage that fails or is slower than ``timeout`` never fails a request: the check
    runs on counters in this process until the storage answers again (tried at most every
    :data:`STORE_RETRY_SECONDS` on the clock). Failing open entirely would drop the
    brute-force protection with Redis; failing closed would let a Redis outage (or whoever
    causes one) stop every sign-in."""

    def __init__(
        self,
        storage: LimitsStorage,
        policy: ThrottlePolicy,
        *,
        secret: bytes,
        clock: Clock = SYSTEM_CLOCK,
        enabled: bool = True,
        timeout: float = STORE_TIMEOUT_SECONDS,
    ) -> None:
        self._storage = storage
        self._shared = _Counters.over(storage)
        # Counters in this process's memory answer without any I/O: the timeout, which bounds
        # the wait for Redis or the database, has nothing to bound there.
        self._in_process = isinstance(storage, LimitsMemoryStorage)
        # Created on the first failure of the shared storage; kept, so that a flapping
        # storage does not reset the local counts each time.
        self._local: _Counters | None = None
        self._retry_at: float | None = None  # set while the shared storage is failing
        self._timeout = timeout
        self._policy = policy
        self._secret = hashlib.blake2b(secret, digest_size=32).digest()
        self._clock = clock
        self.enabled = enabled
        self._login = parse_many(policy.login)
        self._login_address = parse_many(policy.login_address)
        self._register = parse_many(policy.register)
        self._refresh_address = parse_many(policy.refresh_address)
        self._token = parse_many(policy.token)

    @property
    def policy(self) -> ThrottlePolicy:
        return self._policy

    # --- logins ------------------------------------------------------------------------------

    async def check_login(self, username: str, address: str | None) -> None:
        """Before a password is checked: the back-off of this account and address, then the
        per-address and per-account-and-address limits. A refused attempt costs no hashing."""
        if not self.enabled:
            return
        who = self._account_at(username, address)
        by_address = self._digest("addr", address)

        async def check(counters: _Counters) -> None:
            await self._check_backoff(counters, who)
            await self._hit(counters, self._login_address, "login-address", by_address)
            await self._hit(counters, self._login, "login", who)

        await self._guarded(check)

    @contextlib.asynccontextmanager
    async def login_attempt(self, username: str, address: str | None) -> AsyncIterator[None]:
        """Around a password check (a login, or the current password of a password change):
        refused while throttled; an :class:`~ostiary.errors.InvalidCredentials` or
        :class:`~ostiary.errors.CurrentPasswordIncorrect` is counted as a failure, a success
        clears the failures of this account and address."""
        await self.check_login(username, address)
        try:
            yield
        except _WRONG_PASSWORD:
            await self.login_failed(username, address)
            raise
        # The password was right and the session may be stored already: failing now would
        # leave a live session that nobody holds. A failure not cleared only lingers.
        try:
            await self.login_succeeded(username, address)
        except Exception:
            log.warning("rate-limit failure counter not cleared after a login", exc_info=True)

    async def login_failed(self, username: str, address: str | None) -> None:
        """Count a failure; from the ``backoff_after``-th on, the next attempt must wait."""
        if not self.enabled:
            return
        key = self._failures_key(self._account_at(username, address))

        async def count(counters: _Counters) -> None:
            failures = await counters.storage.incr(key, FAILURE_MEMORY_SECONDS)
            wait = self._policy.backoff(failures)
            if wait > 0:
                # One key per failure count, written once: concurrent failures never race.
                # Counters hold integers: the time in milliseconds.
                at = self._now_ms()
                await counters.storage.incr(f"{key}/{failures}", math.ceil(wait) + 1, amount=at)

        await self._guarded(count)

    async def login_succeeded(self, username: str, address: str | None) -> None:
        if self.enabled:
            key = self._failures_key(self._account_at(username, address))
            await self._guarded(lambda counters: counters.storage.clear(key))

    async def _check_backoff(self, counters: _Counters, who: str) -> None:
        key = self._failures_key(who)
        failures = await counters.storage.get(key)
        wait = self._policy.backoff(failures)
        if wait <= 0:
            return
        failed_at = await counters.storage.get(f"{key}/{failures}")
        remaining_ms = failed_at + int(wait * 1000) - self._now_ms()
        if remaining_ms > 0:
            raise RateLimited(
                "Too many failed sign-in attempts; try again later.",
                retry_after=math.ceil(remaining_ms / 1000),
                detail=f"login back-off after {failures} failures",
            )

    # --- other endpoints ---------------------------------------------------------------------

    async def check_register(self, address: str | None) -> None:
        if self.enabled:
            await self._hit_guarded(self._register, "register", self._digest("addr", address))

    async def check_refresh(self, address: str | None) -> None:
        if self.enabled:
            by_address = self._digest("addr", address)
            await self._hit_guarded(self._refresh_address, "refresh-address", by_address)

    async def check_token(self, client_id: str | None, address: str | None) -> None:
        """Per ``client_id`` as the request claims it (Basic or form) and address: the client
        is not authenticated yet, so a bucket per client id alone would let anyone who knows
        the id use up the client's allowance. None (an assertion-only request) counts by
        address alone."""
        if not self.enabled:
            return
        if client_id is None:
            await self._hit_guarded(self._token, "token-address", self._digest("addr", address))
        else:
            who = self._digest("client", f"{client_id}\x00{address or '-'}")
            await self._hit_guarded(self._token, "token", who)

    @property
    def keeps_expired(self) -> bool:
        """Whether the storage keeps expired counters until :meth:`purge` (the database's;
        memory and Redis expire their own)."""
        return callable(getattr(self._storage, "purge", None))

    async def purge(self, *, now: float) -> int:
        """Delete the expired counters of a storage that :attr:`keeps_expired`; how many."""
        purge = getattr(self._storage, "purge", None)
        return int(await purge(now=now)) if callable(purge) else 0

    @property
    def degraded(self) -> bool:
        """Whether the shared storage failed and the counts are this process's own."""
        return self._retry_at is not None

    async def close(self) -> None:
        """Stop the memory storages' sweepers and close the Redis connections."""
        for storage in (self._storage, self._local.storage if self._local else None):
            if storage is not None:
                await close_counter_storage(storage)

    # --- the shared storage, or this process's counters while it fails -------------------

    async def _guarded(self, step: Callable[[_Counters], Awaitable[T]]) -> T:
        """``step`` on the shared counters, or on this process's while they fail."""
        if self._retry_at is None or self._clock.now() >= self._retry_at:
            try:
                if self._in_process:  # nothing to wait for: no timer to arm and cancel
                    result = await step(self._shared)
                else:
                    async with asyncio.timeout(self._timeout):
                        result = await step(self._shared)
            except _STORE_FAILURES as exc:
                self._failed(exc)
            else:
                if self._retry_at is not None:
                    self._retry_at = None
                    log.warning("rate-limit storage answers again: counting there")
                return result
        if self._local is None:
            self._local = _Counters.over(SweepingMemoryStorage())
        return await step(self._local)

    def _failed(self, exc: BaseException) -> None:
        if self._retry_at is None:
            log.warning(
                "rate-limit storage failed (%s: %s): counting in this process, trying it "
                "again every %g s",
                type(exc).__name__,
                exc,
                STORE_RETRY_SECONDS,
            )
        self._retry_at = self._clock.now() + STORE_RETRY_SECONDS

    # --- keys --------------------------------------------------------------------------------

    async def _hit_guarded(self, items: list[RateLimitItem], name: str, identifier: str) -> None:
        await self._guarded(lambda counters: self._hit(counters, items, name, identifier))

    async def _hit(
        self, counters: _Counters, items: list[RateLimitItem], name: str, identifier: str
    ) -> None:
        for item in items:
            if not await counters.hit(item, name, identifier):
                stats = await counters.limiter.get_window_stats(item, name, identifier)
                raise RateLimited(
                    retry_after=max(1, math.ceil(stats.reset_time - LIBRARY_CLOCK.now())),
                    detail=f"{name} limit {item} spent",
                )

    def _account_at(self, username: str, address: str | None) -> str:
        try:
            account = normalize_username(username)
        except InvalidUsername:
            account = username[:1024].casefold()  # throttled all the same, never a shortcut
        return self._digest("login", f"{account}\x00{address or _UNKNOWN_ADDRESS}")

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)

    def _failures_key(self, who: str) -> str:
        return f"ostiary/login-failures/{who}"

    def _digest(self, kind: str, value: str | None) -> str:
        text = f"{kind}\x00{value if value is not None else _UNKNOWN_ADDRESS}"
        # surrogatepass: whatever a client sent (a lone surrogate from JSON included) has a
        # digest; an identifier must never make the throttle fail.
        data = text.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, key=self._secret, digest_size=16).hexdigest()
