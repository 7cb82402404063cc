"""What ``SessionLifecycle`` tells its listeners: one ``SessionEnded`` per user and browser
session, for every way a session ends, and a listener that fails never stops one ending."""

from __future__ import annotations

import logging

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import RefreshTokenReused
from ostiary.revocation.service import Revocations
from ostiary.storage.memory import MemoryStorage
from ostiary.storage.records import BrowserSession
from ostiary.tokens.lifecycle import SessionLifecycle
from ostiary.tokens.refresh import RefreshTokens
from ostiary.tokens.session_events import EndedFamily, SessionEnded
from tests.unit._users import ALICE
from tests.unit.tokens.conftest import T0


@pytest.fixture
async def storage() -> MemoryStorage:
    storage = MemoryStorage()
    await storage.users.create(ALICE)
    return storage


@pytest.fixture
def heard() -> list[SessionEnded]:
    return []


@pytest.fixture
def lifecycle(
    storage: MemoryStorage, clock: FrozenClock, heard: list[SessionEnded]
) -> SessionLifecycle:
    return SessionLifecycle(
        RefreshTokens(storage.sessions, clock=clock),
        Revocations(storage.revocations, clock=clock, max_access_ttl=900),
        storage.browser_sessions,
        storage.users,
        clock=clock,
        listeners=[heard.append],
    )


async def browser(storage: MemoryStorage, session_id: str) -> str:
    await storage.browser_sessions.create(
        BrowserSession(session_id, ALICE.id, auth_time=T0, created_at=T0, expires_at=T0 + 3600)
    )
    return session_id


async def family(lifecycle: SessionLifecycle, client_id: str, browser_id: str | None) -> str:
    started = await lifecycle.families.start(
        user_id=ALICE.id, client_id=client_id, scope="openid", browser_session_id=browser_id
    )
    return started.session.id


async def test_a_browser_session_ends_as_one_event_with_its_families(
    lifecycle: SessionLifecycle, storage: MemoryStorage, heard: list[SessionEnded]
) -> None:
    bs = await browser(storage, "bs_1")
    web, spa = await family(lifecycle, "web", bs), await family(lifecycle, "spa", bs)
    await lifecycle.end_browser_session(bs)
    (event,) = heard
    assert (event.user_id, event.browser_session_id) == (ALICE.id, "bs_1")
    assert set(event.families) == {EndedFamily(web, "web"), EndedFamily(spa, "spa")}
    assert sorted(event.client_ids) == ["spa", "web"]
    await lifecycle.end_browser_session(bs)  # already ended: nothing more
    assert len(heard) == 1


async def test_ending_every_session_of_a_user_groups_by_browser_session(
    lifecycle: SessionLifecycle, storage: MemoryStorage, heard: list[SessionEnded]
) -> None:
    one, two = await browser(storage, "bs_1"), await browser(storage, "bs_2")
    await family(lifecycle, "web", one)
    await family(lifecycle, "web", two)
    await family(lifecycle, "first-party", None)
    await lifecycle.end_user_sessions(ALICE.id)
    by_browser = {e.browser_session_id: e for e in heard}
    assert set(by_browser) == {"bs_1", "bs_2", None}
    assert by_browser["bs_1"].client_ids == ("web",)
    assert by_browser[None].client_ids == ("first-party",)


async def test_a_password_change_keeps_the_asking_session_out_of_the_events(
    lifecycle: SessionLifecycle, storage: MemoryStorage, heard: list[SessionEnded]
) -> None:
    kept = await family(lifecycle, "first-party", None)
    ended = await family(lifecycle, "web", await browser(storage, "bs_1"))
    await lifecycle.end_user_sessions(ALICE.id, keep=kept)
    assert [f.id for e in heard for f in e.families] == [ended]


async def test_a_deleted_clients_families_and_a_reused_refresh_token_are_told(
    lifecycle: SessionLifecycle, storage: MemoryStorage, heard: list[SessionEnded]
) -> None:
    bs = await browser(storage, "bs_1")
    await family(lifecycle, "gone", bs)
    await lifecycle.end_client_sessions("gone")
    assert [(e.browser_session_id, e.client_ids) for e in heard] == [("bs_1", ("gone",))]
    heard.clear()
    started = await lifecycle.families.start(
        user_id=ALICE.id, client_id="web", scope="openid", browser_session_id=bs
    )
    await lifecycle.rotate(started.token, client_id="web")
    with pytest.raises(RefreshTokenReused):
        await lifecycle.rotate(started.token, client_id="web")
    assert [e.families for e in heard] == [(EndedFamily(started.session.id, "web"),)]


async def test_a_failing_listener_neither_stops_the_session_ending_nor_the_others(
    lifecycle: SessionLifecycle,
    storage: MemoryStorage,
    heard: list[SessionEnded],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: SessionEnded) -> None:
        raise RuntimeError("listener bug")

    lifecycle.listeners.insert(0, broken)
    bs = await browser(storage, "bs_1")
    await family(lifecycle, "web", bs)
    with caplog.at_level(logging.ERROR, logger="ostiary.tokens.session_events"):
        assert await lifecycle.end_browser_session(bs)
    assert len(heard) == 1
    assert "session listener failed" in caplog.text
    assert await lifecycle.families.list_sessions(ALICE.id) == []
