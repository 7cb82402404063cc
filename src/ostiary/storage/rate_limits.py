"""Where the throttle's counters live: ``limits`` async storages built from the settings (this
process's memory, or Redis shared by the instances of a deployment) and closed at shutdown.
(``ostiary.storage.sql.counters`` is the SQL one, for worker processes sharing a database.)
The throttle itself (:mod:`ostiary.authn.throttle`) only counts in them."""

from __future__ import annotations

import asyncio
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
