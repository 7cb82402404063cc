"""Where the throttle's counters live: ``limits`` async storages built from the settings (this
process's memory, or Redis shared by the instances of a deployment) and closed at shutdown.
(``ostiary.storage.sql.counters`` is the SQL one, for worker processes sharing a database.)
The throttle itself (:mod:`ostiary.authn.throttle`) only counts in them."""

from __future__ import annotations

import asyncio
import time
from math import floor
from typing import Final

from limits.aio.storage import MemoryStorage as LimitsMemoryStorage
from limits.aio.storage import RedisStorage as LimitsRedisStorage
from limits.aio.storage import Storage as LimitsStorage
from limits.storage import storage_from_string

DEFAULT_KEY_PREFIX: Final = "ostiary"
#: The Redis client's socket timeouts (connect, and each reply): within the throttle's
#: ``STORE_TIMEOUT_SECONDS``.
REDIS_SOCKET_TIMEOUT_SECONDS: Final = 0.5


def rate_limit_storage(
    redis_url: str | None, *, key_prefix: str = DEFAULT_KEY_PREFIX
) -> LimitsStorage:
    """Redis at ``redis_url`` (``redis://`` or ``rediss://``; needs the ``redis`` extra), else
    this process's memory. Redis errors are raised wrapped (``limits.errors.StorageError``),
    and no call waits longer than the socket timeouts (redis-py's default is 5 s each)."""
    if redis_url is None:
        return SweepingMemoryStorage()
    uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
    storage = storage_from_string(
        uri,
        key_prefix=key_prefix,
        implementation="redispy",
        wrap_exceptions=True,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
    )
    assert isinstance(storage, LimitsStorage)
    return storage


class SweepingMemoryStorage(LimitsMemoryStorage):
    """``limits``' memory storage, sweeping out expired entries at most once per ``interval``
    seconds. Upstream starts a sweep after every hit, and a sweep walks every key (with a
    thread hop per moving-window key): under many addresses each request would pay O(keys).
    Expired entries never count either way; sweeping only frees memory."""

    def __init__(self, *, interval: float = 10.0) -> None:
        super().__init__()
        self._interval = interval
        self._next_sweep = float("-inf")

    # The upstream hook, by its mangled name (limits 5.x); tests/unit pin that it exists.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._interval
        await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        """:meth:`hit_sliding_window`, as ``limits``' strategies call it (through the error
        wrappers ``limits`` puts around this method in every subclass)."""
        return await self.hit_sliding_window(key, limit, expiry, amount)

    async def hit_sliding_window(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """One hit of the sliding window counter: upstream's, with its keys
        (``sliding_window_keys``), its expiries and its arithmetic, so that ``limits``' own
        ``get_sliding_window`` and window stats read the same counters, in one step.

        Upstream reads and increments through ``get`` and ``incr``, each awaited through two
        error wrappers (``limits`` wraps a storage's methods again for every subclass) and a
        lock per key, then undoes an increment that lost a race. Nothing here awaits between
        reading the counters and writing them, so no other hit can come in between: there is
        no race to lose, and the lock guarded nothing the event loop does not."""
        if amount > limit:
            return False
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        previous_count = self._live_count(previous_key, now)
        current_count = self._live_count(current_key, now)
        previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous_count else 0.0
        if floor(previous_count * previous_ttl / expiry + current_count) + amount > limit:
            return False
        count = current_count + amount
        self.storage[current_key] = count
        if count == amount:  # a new counter: twice the window, as upstream sets it
            self.expirations[current_key] = now + 2 * expiry
        if asyncio.get_running_loop().time() >= self._next_sweep:
            await self._MemoryStorage__schedule_expiry()
        return True

    def _live_count(self, key: str, now: float) -> int:
        """The counter at ``key``, dropped first if expired (upstream's ``get``)."""
        if self.expirations.get(key, 0) <= now:
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            self.locks.pop(key, None)
            return 0
        return self.storage.get(key, 0)


async def close_counter_storage(storage: LimitsStorage) -> None:
    """Stop a memory storage's sweeper, or close a Redis storage's connections."""
    if isinstance(storage, LimitsMemoryStorage):
        timer = storage.timer
        if timer is not None and not timer.done():
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
    elif isinstance(storage, LimitsRedisStorage):
        client = getattr(storage.bridge, "storage", None)  # the redis-py client
        if client is not None:
            await client.aclose()
