"""Fault: the Redis that holds the rate-limit counters goes down (issue 10 §3). Every login,
refresh and registration answered 500 with a traceback: the throttle let the client's
connection errors through. An attacker who could upset Redis had a switch that turned sign-in
off for everyone.

Now the throttle fails over to counters in its own process while Redis is unreachable (the
limits and the login back-off still hold, per process), and goes back to Redis by itself
once it answers again: no restart. Replayed against a ``redis-server`` of this test's own,
stopped and started again on the same port; the shared Redis is never touched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ostiary.authn.throttle import STORE_RETRY_SECONDS
from tests._redis import OwnRedis, RedisUnavailable, own_redis
from tests.http._server import PASSWORD, Server, running, settings_for

LIMITS = {
    "rate_limits_enabled": True,
    "login_rate_limit": "100/hour",
    "login_address_rate_limit": "100/hour",
    "register_rate_limit": "100/hour",
    "refresh_address_rate_limit": "100/hour",
    "login_backoff_after": 2,
    "login_backoff_base_seconds": 600,
}


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[OwnRedis]:
    try:
        with own_redis(tmp_path / "redis") as server:
            yield server
    except RedisUnavailable as exc:
        pytest.skip(f"no redis-server of our own: {exc}")


async def sign_in_and_refresh(server: Server, username: str) -> None:
    """Register, log in and refresh: the three endpoints the outage broke."""
    created = await server.client.post(
        "/auth/register", json={"username": username, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    pair = await server.login(username)
    refreshed = await server.refresh(pair["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text


async def bad_login(server: Server, username: str) -> httpx.Response:
    return await server.client.post(
        "/auth/login", json={"username": username, "password": "wrong password!"}
    )


async def test_login_refresh_and_registration_survive_a_redis_outage(
    tmp_path: Path, redis: OwnRedis
) -> None:
    settings = settings_for(tmp_path, redis_url=redis.url, **LIMITS)
    async with running(settings) as server:
        await sign_in_and_refresh(server, "before")
        assert redis.key_count() > 0  # the counters are in Redis

        redis.stop()
        await sign_in_and_refresh(server, "during")
        # The login back-off still holds, counted in this process.
        for _ in range(2):
            assert (await bad_login(server, "during")).status_code == 401
        backed_off = await bad_login(server, "during")
        assert backed_off.status_code == 429, backed_off.text
        assert int(backed_off.headers["retry-after"]) > 0

        redis.start()  # the same port, empty
        assert redis.key_count() == 0
        server.clock.advance(STORE_RETRY_SECONDS)
        await sign_in_and_refresh(server, "after")
        assert redis.key_count() > 0  # counting in Redis again, with no restart
