"""RevocationNotices contract: a notice of one instance wakes a listener of another, and a
channel that cannot be reached says so at once (the relay then polls; see
tests/unit/revocation/test_relay.py). Run against Redis, PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ostiary.storage import Storage
from ostiary.storage.protocols import KEYS_CHANGED, RevocationNotices
from ostiary.storage.records import RevocationKind
from ostiary.storage.redis.revocation_notices import RedisRevocationNotices
from ostiary.storage.sql import SQLStorage
from ostiary.storage.sql.engine import PostgresDatabase
from ostiary.storage.sql.revocation_notices import (
    PostgresRevocationNotices,
    SQLiteRevocationNotices,
    sql_revocation_notices,
)
from tests._redis import free_port
from tests.contract import examples as ex

from .conftest import open_empty, prepare

REDIS_URL = "redis://127.0.0.1:6379/0"
#: Bounds every wait: the notices come in milliseconds, a failure at once.
TIMEOUT = 10.0

NoticesOf = Callable[[], RevocationNotices]


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(params=["redis", "postgresql", "sqlite"])
async def channel(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Storage, NoticesOf]]:
    """A migrated, empty store and a maker of notice channels over it (one per instance)."""
    backend = request.param
    url = prepare("sqlite" if backend == "redis" else backend, request)
    storage = await open_empty(url)
    assert isinstance(storage, SQLStorage)
    made: list[RevocationNotices] = []
    if backend == "redis":
        if not redis_reachable():
            pytest.skip("Redis is not reachable at 127.0.0.1:6379")
        name = f"ostiary-test-{secrets.token_hex(8)}"

        def make() -> RevocationNotices:
            made.append(RedisRevocationNotices(REDIS_URL, channel=name))
            return made[-1]
    else:

        def make() -> RevocationNotices:
            notices = sql_revocation_notices(storage.db)
            assert notices is not None
            made.append(notices)
            return notices

    try:
        yield storage, make
    finally:
        for notices in made:
            await notices.close()
        await storage.close()


async def test_a_notice_wakes_a_listener_of_another_instance(
    channel: tuple[Storage, NoticesOf],
) -> None:
    storage, make = channel
    writer, reader = make(), make()
    listening = reader.listen()
    async with contextlib.aclosing(listening):
        assert await asyncio.wait_for(anext(listening), TIMEOUT) == 0  # subscribed
        entry = await storage.revocations.add(ex.revocation("sid-1", kind=RevocationKind.SESSION))
        await writer.publish(entry.seq)
        assert await asyncio.wait_for(anext(listening), TIMEOUT) == entry.seq
        later = await storage.revocations.add(ex.revocation("sid-2", kind=RevocationKind.SESSION))
        await writer.publish(later.seq)
        assert await asyncio.wait_for(anext(listening), TIMEOUT) == later.seq


async def test_a_change_of_the_signing_keys_is_heard_as_keys_changed(
    channel: tuple[Storage, NoticesOf],
) -> None:
    """A key added by another process (a worker's schedule, ``ostiary keys rotate``): every
    listener hears KEYS_CHANGED, and reads the keys again. On SQLite the commit itself is the
    notice (publishing is a no-op)."""
    storage, make = channel
    writer, reader = make(), make()
    listening = reader.listen()
    async with contextlib.aclosing(listening):
        assert await asyncio.wait_for(anext(listening), TIMEOUT) == 0
        await storage.keys.add(ex.stored_key("kid-new"))
        await writer.publish(KEYS_CHANGED)
        assert await asyncio.wait_for(anext(listening), TIMEOUT) == KEYS_CHANGED
        entry = await storage.revocations.add(ex.revocation("sid-3", kind=RevocationKind.SESSION))
        await writer.publish(entry.seq)
        assert await asyncio.wait_for(anext(listening), TIMEOUT) == entry.seq


async def test_two_listeners_both_hear_a_notice(channel: tuple[Storage, NoticesOf]) -> None:
    storage, make = channel
    writer = make()
    listeners = [make().listen(), make().listen()]
    async with contextlib.aclosing(listeners[0]), contextlib.aclosing(listeners[1]):
        for listening in listeners:
            assert await asyncio.wait_for(anext(listening), TIMEOUT) == 0
        entry = await storage.revocations.add(ex.revocation("jti-1", kind=RevocationKind.TOKEN))
        await writer.publish(entry.seq)
        for listening in listeners:
            assert await asyncio.wait_for(anext(listening), TIMEOUT) == entry.seq


async def test_an_unreachable_redis_fails_the_listener_at_once() -> None:
    notices = RedisRevocationNotices(f"redis://127.0.0.1:{free_port()}/0", channel="unused")
    listening = notices.listen()
    async with contextlib.aclosing(listening):
        with pytest.raises(Exception):  # noqa: B017 (redis-py's ConnectionError)
            await asyncio.wait_for(anext(listening), TIMEOUT)
    await notices.close()


async def test_an_unreachable_postgresql_fails_the_listener_at_once(
    request: pytest.FixtureRequest,
) -> None:
    storage = await open_empty(prepare("postgresql", request))
    assert isinstance(storage, SQLStorage) and isinstance(storage.db, PostgresDatabase)
    notices = PostgresRevocationNotices(storage.db)
    notices._dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    listening = notices.listen()
    async with contextlib.aclosing(listening):
        with pytest.raises(OSError):
            await asyncio.wait_for(anext(listening), TIMEOUT)
    await storage.close()


async def test_a_missing_sqlite_file_fails_the_listener_at_once(tmp_path: Path) -> None:
    listening = SQLiteRevocationNotices(str(tmp_path / "missing.db")).listen()
    async with contextlib.aclosing(listening):
        with pytest.raises(Exception):  # noqa: B017 (sqlite3.OperationalError)
            await asyncio.wait_for(anext(listening), TIMEOUT)
