"""Revocations between instances travel as notices (docs/deployment.md): two apps on one
database, each polling only every 60 s, so that only a notice explains why the second refuses
a token the first logged out at once; with the channel down, polling still gets it there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from ostiary.settings import Settings
from ostiary.wiring import NOTICES_DOWN_POLL_SECONDS

from .._postgres import PostgresUnavailable, postgres_database
from .._redis import free_port
from ._server import REVOKED, Server, bearer, running, settings_for

#: Neither app polls within a test: the maintenance loop's first pull is 60 s away.
NO_POLL: Final = 60.0
#: Bounds each wait; a notice takes milliseconds, the fallback poll about a second.
TIMEOUT: Final = 15.0


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database("ostiary_notices"))
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
        yield url


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def two_instances(tmp_path: Path, **overrides: Any) -> Settings:
    """The settings both apps share; a random issuer gives the test a Redis channel of its
    own (the channel is named after the issuer)."""
    return settings_for(
        tmp_path,
        issuer=f"http://localhost:{free_port()}",
        revocation_sync_seconds=NO_POLL,
        **overrides,
    )


async def refused_by(other: Server, access_token: str) -> bool:
    """Whether ``other`` comes to refuse the token within :data:`TIMEOUT`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while loop.time() < deadline:
        answer = await other.profile(access_token)
        if answer.status_code == 401:
            assert answer.json() == REVOKED
            return True
        await asyncio.sleep(0.01)
    return False


async def logout_on_one_is_refused_by_two(settings: Settings) -> None:
    async with running(settings) as one, running(settings) as two:
        await one.add_user("alice")
        tokens = await one.login()
        # Also spends two's one pull on request: the next is NO_POLL seconds away.
        assert (await two.profile(tokens["access_token"])).status_code == 200
        out = await one.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
        assert out.status_code < 300, out.text
        assert await refused_by(two, tokens["access_token"])


async def test_a_logout_reaches_another_instance_through_redis(
    tmp_path: Path, postgres_url: str
) -> None:
    if not redis_reachable():
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    settings = two_instances(
        tmp_path, database_url=postgres_url, redis_url="redis://127.0.0.1:6379/0"
    )
    await logout_on_one_is_refused_by_two(settings)


async def test_a_logout_reaches_another_instance_through_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    await logout_on_one_is_refused_by_two(two_instances(tmp_path, database_url=postgres_url))


async def test_a_logout_reaches_another_process_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}"
    await logout_on_one_is_refused_by_two(two_instances(tmp_path, database_url=url))


async def test_with_the_channel_down_instances_catch_up_by_polling(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    settings = two_instances(tmp_path, database_url=postgres_url, redis_url=nothing_there)
    with caplog.at_level(logging.WARNING, logger="ostiary.revocations"):
        await logout_on_one_is_refused_by_two(settings)
    assert NOTICES_DOWN_POLL_SECONDS < NO_POLL  # so the poll that found it was the fallback's
    down = [r for r in caplog.records if "revocation notices unavailable" in r.getMessage()]
    assert 1 <= len(down) <= 2  # once per app, however many reconnections failed
