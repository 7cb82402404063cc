"""Fault: a refresh whose rotation is committed and whose answer is then lost (issue 10 §3).
The client retries with the token it still holds, and the retry looked like token theft:
reuse detected, the session revoked, a false ``refresh.reuse`` in the audit trail. Two ways
to lose the answer are replayed: a step after the rotation that failed (reading the user hit
a database hiccup: 503) and a connection dropped after a 200.

Now the user is read in the rotation's transaction, so a failed read changes nothing; and a
retry of the same refresh within the grace window (on by default, RFC 9700 §4.14.2) is
answered with the same successor. A retry after the window is still reuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.storage import StorageError
from ostiary.storage.memory import MemoryStorage, MemoryUserStore
from ostiary.storage.records import User
from tests.http._server import BAD_GRANT, Server, running, settings_for


class FlakyUsers(MemoryStorage):
    """Memory storage whose user reads fail while ``failing`` is set: a database hiccup. A
    refresh reads the user in its rotation's transaction, through the session store (peek)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        users = self.users
        assert isinstance(users, MemoryUserStore)
        read, peek = users.get, users.peek

        async def get(user_id: str) -> User | None:
            if self.failing:
                raise StorageError("connection reset by peer")
            return await read(user_id)

        def flaky_peek(user_id: str) -> User | None:
            if self.failing:
                raise StorageError("connection reset by peer")
            return peek(user_id)

        users.get = get  # type: ignore[method-assign]
        users.peek = flaky_peek  # type: ignore[method-assign]


@pytest.fixture
async def storage() -> FlakyUsers:
    return FlakyUsers()


@pytest.fixture
async def server(tmp_path: Path, storage: FlakyUsers) -> AsyncIterator[Server]:
    # The default settings: the grace window is on without being asked for.
    async with running(settings_for(tmp_path), storage=storage) as srv:
        assert srv.settings.refresh_grace_seconds > 0
        await srv.add_user("alice")
        yield srv


async def reuse_events(server: Server) -> int:
    await server.services.audit.drain()
    return len(await server.services.storage.audit.query(kind="refresh.reuse"))


async def assert_live(server: Server, pair: dict[str, str]) -> None:
    assert (await server.profile(pair["access_token"])).status_code == 200
    onward = await server.refresh(pair["refresh_token"])
    assert onward.status_code == 200, onward.text


async def test_a_refresh_that_failed_after_reading_changes_nothing(
    server: Server, storage: FlakyUsers
) -> None:
    token = (await server.login())["refresh_token"]
    storage.failing = True
    failed = await server.refresh(token)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"] == "temporarily_unavailable"
    storage.failing = False

    retried = await server.refresh(token)
    assert retried.status_code == 200, retried.text
    await assert_live(server, retried.json())
    assert await reuse_events(server) == 0


async def test_a_retry_within_the_window_gets_the_same_successor(server: Server) -> None:
    token = (await server.login())["refresh_token"]
    lost = await server.refresh(token)  # answered, but the connection dropped
    assert lost.status_code == 200, lost.text
    server.clock.advance(server.settings.refresh_grace_seconds / 2)

    retried = await server.refresh(token)
    assert retried.status_code == 200, retried.text
    assert retried.json()["refresh_token"] == lost.json()["refresh_token"]
    await assert_live(server, retried.json())
    assert await reuse_events(server) == 0


async def test_a_retry_after_the_window_is_reuse(server: Server) -> None:
    token = (await server.login())["refresh_token"]
    lost = await server.refresh(token)
    assert lost.status_code == 200, lost.text
    server.clock.advance(server.settings.refresh_grace_seconds + 1)

    retried = await server.refresh(token)
    assert retried.status_code == 400
    assert retried.json() == BAD_GRANT
    # The family ended: the successor the first answer carried is refused too.
    successor = await server.refresh(lost.json()["refresh_token"])
    assert successor.status_code == 400
    assert (await server.profile(lost.json()["access_token"])).status_code == 401
    assert await reuse_events(server) == 1
