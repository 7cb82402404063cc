"""BrowserSessionStore contract: signed-in browsers, revoked once."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from ostiary.storage import Conflict, Storage
from ostiary.storage.records import BrowserSession
from tests.contract import examples as ex

LATER = ex.NOW + 60


async def test_created_session_reads_back(storage: Storage) -> None:
    browser = ex.browser_session()
    await storage.browser_sessions.create(browser)
    assert await storage.browser_sessions.get(browser.id) == browser
    assert await storage.browser_sessions.get("unknown") is None


async def test_a_session_created_revoked_reads_back_revoked(storage: Storage) -> None:
    browser = ex.browser_session(revoked_at=ex.NOW + 1)
    await storage.browser_sessions.create(browser)
    assert await storage.browser_sessions.get(browser.id) == browser
    assert await storage.browser_sessions.revoke(browser.id, now=LATER) is None
    assert await storage.browser_sessions.get(browser.id) == browser


async def test_taken_id_conflicts_and_keeps_the_original(storage: Storage) -> None:
    browser = ex.browser_session("b-1")
    await storage.browser_sessions.create(browser)
    with pytest.raises(Conflict):
        await storage.browser_sessions.create(ex.browser_session("b-1", user_id="u-2"))
    assert await storage.browser_sessions.get("b-1") == browser


async def test_revoke_returns_the_session_once(storage: Storage) -> None:
    browser = ex.browser_session()
    other = ex.browser_session("b-2")
    await storage.browser_sessions.create(browser)
    await storage.browser_sessions.create(other)
    revoked = dataclasses.replace(browser, revoked_at=LATER)
    assert await storage.browser_sessions.revoke(browser.id, now=LATER) == revoked
    assert await storage.browser_sessions.revoke(browser.id, now=LATER + 1) is None
    assert await storage.browser_sessions.get(browser.id) == revoked
    assert await storage.browser_sessions.get(other.id) == other


async def test_revoking_an_unknown_session_does_nothing(storage: Storage) -> None:
    assert await storage.browser_sessions.revoke("unknown", now=LATER) is None
    assert await storage.browser_sessions.get("unknown") is None


async def test_of_20_concurrent_revocations_exactly_one_revokes(storage: Storage) -> None:
    await storage.browser_sessions.create(ex.browser_session())
    found = await asyncio.gather(
        *(storage.browser_sessions.revoke("b-1", now=LATER + i) for i in range(20))
    )
    revoked = [f for f in found if f is not None]
    assert len(revoked) == 1
    assert await storage.browser_sessions.get("b-1") == revoked[0]


def _user_sessions() -> list[BrowserSession]:
    return [
        ex.browser_session("b-old", created_at=ex.NOW),
        ex.browser_session("b-new", created_at=ex.NOW + 1),
        ex.browser_session("b-expired", expires_at=LATER - 1),
        ex.browser_session("b-revoked", revoked_at=ex.NOW + 2),
        ex.browser_session("b-other", user_id="u-2"),
    ]


async def test_list_for_user_gives_live_sessions_newest_first(storage: Storage) -> None:
    for browser in _user_sessions():
        await storage.browser_sessions.create(browser)
    listed = await storage.browser_sessions.list_for_user("u-1", now=LATER)
    assert [b.id for b in listed] == ["b-new", "b-old"]
    assert await storage.browser_sessions.list_for_user("nobody", now=LATER) == []


async def test_revoke_user_revokes_only_their_live_sessions(storage: Storage) -> None:
    sessions = _user_sessions()
    for browser in sessions:
        await storage.browser_sessions.create(browser)
    old, new, expired, revoked, other = sessions

    got = await storage.browser_sessions.revoke_user("u-1", now=LATER)

    assert got == [dataclasses.replace(b, revoked_at=LATER) for b in (new, old)]
    for untouched in (expired, revoked, other):
        assert await storage.browser_sessions.get(untouched.id) == untouched
    assert await storage.browser_sessions.revoke_user("u-1", now=LATER + 1) == []
    assert await storage.browser_sessions.list_for_user("u-1", now=LATER) == []


async def test_purge_deletes_only_sessions_expired_before_now(storage: Storage) -> None:
    expired = [
        ex.browser_session("old", expires_at=LATER - 1),
        ex.browser_session("old-revoked", expires_at=LATER - 2, revoked_at=ex.NOW + 1),
    ]
    kept = [
        ex.browser_session("edge", expires_at=LATER),
        ex.browser_session("fresh", expires_at=LATER + 60),
        # Revoked but unexpired: kept until it expires.
        ex.browser_session("revoked", expires_at=LATER + 60, revoked_at=ex.NOW + 1),
    ]
    for browser in expired + kept:
        await storage.browser_sessions.create(browser)
    assert await storage.browser_sessions.purge(now=LATER) == 2
    assert await storage.browser_sessions.purge(now=LATER) == 0
    for browser in expired:
        assert await storage.browser_sessions.get(browser.id) is None
    for browser in kept:
        assert await storage.browser_sessions.get(browser.id) == browser


async def test_a_purged_session_id_may_be_created_again(storage: Storage) -> None:
    await storage.browser_sessions.create(ex.browser_session(expires_at=LATER - 1))
    assert await storage.browser_sessions.purge(now=LATER) == 1
    again = ex.browser_session(expires_at=LATER + 60)
    await storage.browser_sessions.create(again)
    assert await storage.browser_sessions.get(again.id) == again
