"""The throttle over ``limits``: rate limits, the login back-off on the injected clock, keys
without secrets, and the same behaviour on Redis."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from limits.aio.storage import MemoryStorage, RedisStorage, Storage

from ostiary.authn.throttle import STORE_RETRY_SECONDS, Throttle, ThrottlePolicy
from ostiary.clock import FrozenClock
from ostiary.errors import InvalidCredentials, RateLimited
from ostiary.storage.rate_limits import (
    REDIS_SOCKET_TIMEOUT_SECONDS,
    SweepingMemoryStorage,
    rate_limit_storage,
)

SECRET = b"k" * 32
REDIS_URL = "redis://127.0.0.1:6379/0"
STRICT = ThrottlePolicy(
    login="3/hour",
    login_address="100/hour",
    register="2/hour",
    refresh_address="100/hour",
    token="2/hour",
    backoff_after=2,
    backoff_base_seconds=60,
    backoff_max_seconds=200,
)


def throttle(
    storage: Storage, policy: ThrottlePolicy = STRICT, *, clock: FrozenClock | None = None
) -> tuple[Throttle, FrozenClock]:
    clock = clock if clock is not None else FrozenClock(time.time())
    return Throttle(storage, policy, secret=SECRET, clock=clock), clock


async def fail(throttle: Throttle, username: str, address: str) -> None:
    with pytest.raises(InvalidCredentials):
        async with throttle.login_attempt(username, address):
            raise InvalidCredentials()


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = ThrottlePolicy(backoff_after=5, backoff_base_seconds=1, backoff_max_seconds=900)
    assert [policy.backoff(n) for n in range(4, 9)] == [0, 1, 2, 4, 8]
    assert policy.backoff(20) == 900
    assert policy.backoff(10**9) == 900  # no overflow


def test_the_sweep_hook_exists_upstream() -> None:
    """SweepingMemoryStorage overrides limits' private hook by its mangled name."""
    assert hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry")


async def test_rate_limit_raises_with_retry_after() -> None:
    limiter, _ = throttle(SweepingMemoryStorage())
    for _ in range(2):
        await limiter.check_register("198.51.100.1")
    with pytest.raises(RateLimited) as info:
        await limiter.check_register("198.51.100.1")
    assert 1 <= info.value.retry_after <= 3600
    await limiter.check_register("198.51.100.2")  # another address has its own budget
    await limiter.close()


async def test_backoff_runs_on_the_injected_clock() -> None:
    policy = ThrottlePolicy(login="1000/hour", backoff_after=2, backoff_base_seconds=60)
    limiter, clock = throttle(SweepingMemoryStorage(), policy)
    await fail(limiter, "alice", "a")
    await fail(limiter, "alice", "a")  # the 2nd failure: wait 60 s
    with pytest.raises(RateLimited) as info:
        await limiter.check_login("alice", "a")
    assert info.value.retry_after == 60
    await limiter.check_login("alice", "b")  # the account is not locked for everyone
    clock.advance(61)
    await fail(limiter, "alice", "a")  # the 3rd: 120 s
    clock.advance(100)
    with pytest.raises(RateLimited):
        await limiter.check_login("alice", "a")
    clock.advance(21)
    async with limiter.login_attempt("alice", "a"):
        pass  # a success forgets the failures
    await fail(limiter, "alice", "a")
    await limiter.check_login("alice", "a")
    await limiter.close()


async def test_usernames_are_throttled_in_normalized_form() -> None:
    limiter, _ = throttle(SweepingMemoryStorage())
    for name in ("Alice", " alice", "ALICE"):
        await limiter.check_login(name, "a")
    with pytest.raises(RateLimited):
        await limiter.check_login("alice", "a")
    await limiter.close()


async def test_keys_hold_no_username_token_or_address() -> None:
    storage = SweepingMemoryStorage()
    limiter, _ = throttle(storage)
    await fail(limiter, "alice@example.com", "198.51.100.1")
    await limiter.check_refresh("198.51.100.1")
    await limiter.check_token("my-client", None)
    keys = " ".join([*storage.storage, *storage.events])
    for raw in ("alice", "198.51.100.1", "my-client"):
        assert raw not in keys
    await limiter.close()


async def test_disabled_never_refuses() -> None:
    limiter = Throttle(SweepingMemoryStorage(), STRICT, secret=SECRET, enabled=False)
    for _ in range(10):
        await fail(limiter, "alice", "a")
        await limiter.check_register("a")
    await limiter.close()


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
async def redis_storage() -> AsyncIterator[Storage]:
    if not redis_reachable():
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    prefix = f"ostiary-test-{secrets.token_hex(8)}"
    storage = rate_limit_storage(REDIS_URL, key_prefix=prefix)
    assert isinstance(storage, RedisStorage)
    yield storage
    await storage.reset()  # deletes the keys under this run's prefix only
    await Throttle(storage, STRICT, secret=SECRET).close()


async def test_redis_counts_limits_and_backoff(redis_storage: Storage) -> None:
    limiter, clock = throttle(redis_storage)
    # A second process on the same Redis, at the same time (two clocks read a moment apart
    # may straddle a millisecond and make the back-off 60.001 s: 61 once rounded up).
    other, _ = throttle(redis_storage, clock=clock)
    await limiter.check_token("svc", "a")
    await other.check_token("svc", "a")  # counted together: one Redis
    with pytest.raises(RateLimited) as info:
        await limiter.check_token("svc", "a")
    assert info.value.retry_after >= 1
    await limiter.check_token("svc", "c")  # another address has a budget of its own
    await fail(limiter, "alice", "a")
    await fail(other, "alice", "a")
    with pytest.raises(RateLimited) as backoff:
        await limiter.check_login("alice", "a")
    assert backoff.value.retry_after == 60
    await limiter.check_login("alice", "b")
    clock.advance(61)
    await limiter.check_login("alice", "a")


def test_the_redis_client_never_waits_long() -> None:
    """redis-py waits 5 s per connect and per reply by default; a request must not."""
    storage = rate_limit_storage("redis://127.0.0.1:1/0")
    assert isinstance(storage, RedisStorage)
    client: Any = getattr(storage.bridge, "storage")  # noqa: B009 (the redis-py client)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == REDIS_SOCKET_TIMEOUT_SECONDS
    assert kwargs["socket_connect_timeout"] == REDIS_SOCKET_TIMEOUT_SECONDS
    assert storage.wrap_exceptions


async def test_a_silent_redis_is_given_up_on_and_counted_locally() -> None:
    """A Redis that accepts connections and never answers: each check gives up after the
    throttle's timeout and counts in this process, where the limits still hold."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        storage = rate_limit_storage(f"redis://127.0.0.1:{port}/0")
        limiter = Throttle(storage, STRICT, secret=SECRET, clock=FrozenClock(0), timeout=0.1)
        # wait_for only guards the suite against a hang; nothing here is timed.
        await asyncio.wait_for(limiter.check_register("a"), 60)
        assert limiter.degraded
        await limiter.check_register("a")
        with pytest.raises(RateLimited):
            await limiter.check_register("a")  # STRICT: 2 an hour
        await limiter.close()


async def test_an_unreachable_redis_is_tried_again_after_a_while() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FrozenClock(0)
    storage = rate_limit_storage(f"redis://127.0.0.1:{port}/0")
    assert isinstance(storage, RedisStorage)
    limiter = Throttle(storage, STRICT, secret=SECRET, clock=clock)
    tried = 0
    original = storage.acquire_sliding_window_entry

    async def counting(*args: Any, **kwargs: Any) -> bool:
        nonlocal tried
        tried += 1
        return await original(*args, **kwargs)

    storage.acquire_sliding_window_entry = counting  # type: ignore[method-assign]
    await limiter.check_token("svc", "a")
    await limiter.check_token("svc", "b")
    assert (tried, limiter.degraded) == (1, True)  # not tried again at once
    clock.advance(STORE_RETRY_SECONDS)
    await limiter.check_token("svc", "c")
    assert (tried, limiter.degraded) == (2, True)
    await limiter.close()
