"""The server's maintenance: what has expired is purged, on the services' clock, each store on
its own (one failing purge does not hold up the others), and the background loop does it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.clock import FrozenClock
from ostiary.server import app as server_app
from ostiary.server.app import purge_expired
from ostiary.storage import MemoryStorage, StorageError
from tests.contract import examples as ex

from ._server import Server, running, settings_for

EXPIRED = ex.NOW + 60
LATER = ex.NOW + 120
LIVE = LATER + 60
ALL_PURGED = {
    "revocations": 1,
    "authorization codes": 1,
    "once-keys": 1,
    "browser sessions": 1,
    "audit events": 0,  # kept for OSTIARY_AUDIT_RETENTION_DAYS
}
NONE_PURGED = dict.fromkeys(ALL_PURGED, 0)


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Server]:
    """A server on memory storage holding one expired and one live record of each kind that
    is purged, its clock standing at ``ex.NOW``."""
    storage = MemoryStorage()
    async with running(
        settings_for(tmp_path), storage=storage, clock=FrozenClock(ex.NOW)
    ) as server:
        await _seed(storage)
        yield server


async def _seed(storage: MemoryStorage) -> None:
    for name, expires_at in [("old", EXPIRED), ("live", LIVE)]:
        await storage.revocations.add(ex.revocation(f"jti-{name}", expires_at=expires_at))
        await storage.codes.add(ex.code(f"code-{name}", expires_at=expires_at))
        assert await storage.once.first_use(f"once-{name}", expires_at=expires_at, now=ex.NOW)
        await storage.browser_sessions.create(ex.browser_session(name, expires_at=expires_at))


async def _assert_live_records_kept(storage: MemoryStorage) -> None:
    assert [r.value for r in await storage.revocations.since(0)] == ["jti-live"]
    assert await storage.codes.consume("code-live", now=LATER) is not None
    assert not await storage.once.first_use("once-live", expires_at=LIVE, now=LATER)
    assert await storage.browser_sessions.get("live") is not None


async def test_nothing_is_purged_before_it_expires(srv: Server) -> None:
    srv.clock.set(EXPIRED)  # expired "before now" only once now is past expires_at
    assert await purge_expired(srv.services) == NONE_PURGED


async def test_what_expired_before_the_clock_is_purged_once(srv: Server) -> None:
    storage = srv.services.storage
    assert isinstance(storage, MemoryStorage)
    srv.clock.set(LATER)
    assert await purge_expired(srv.services) == ALL_PURGED
    assert await purge_expired(srv.services) == NONE_PURGED
    assert await storage.codes.consume("code-old", now=LATER) is None
    assert await storage.browser_sessions.get("old") is None
    # Forgotten, so usable again.
    assert await storage.once.first_use("once-old", expires_at=LIVE, now=LATER)
    await _assert_live_records_kept(storage)


async def test_a_failing_purge_is_logged_and_the_others_still_run(
    srv: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    storage = srv.services.storage

    async def unreachable(*, now: float) -> int:
        raise StorageError("the database is unreachable")

    monkeypatch.setattr(storage.codes, "purge", unreachable)
    srv.clock.set(LATER)
    with caplog.at_level(logging.WARNING, logger="ostiary.server"):
        purged = await purge_expired(srv.services)
    assert purged == {k: v for k, v in ALL_PURGED.items() if k != "authorization codes"}
    (record,) = caplog.records
    # An outage is one warning line (ostiary.failures), not a traceback.
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == (
        "background maintenance failed (purging expired authorization codes); retrying "
        "(StorageError: the database is unreachable)"
    )


async def test_the_background_loop_purges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_app, "KEY_TICK_SECONDS", 0.0)
    storage = MemoryStorage()
    clock = FrozenClock(ex.NOW)
    settings = settings_for(tmp_path, revocation_sync_seconds=0.01)
    async with running(settings, storage=storage, clock=clock):
        await _seed(storage)
        clock.set(LATER)
        for _ in range(200):
            if await storage.browser_sessions.get("old") is None:
                break
            await asyncio.sleep(0.01)
        assert await storage.browser_sessions.get("old") is None
        assert await storage.codes.consume("code-old", now=LATER) is None
        await _assert_live_records_kept(storage)
