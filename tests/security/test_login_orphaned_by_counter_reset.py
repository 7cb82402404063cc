"""Fault: a login stores its session, then the rate-limit store fails to clear the account's
failure counter (issue 10 §3). The login answered 500, and left a live 30-day session that
nobody held: its refresh token had never been sent.

The password check succeeded and the session exists, so the login now succeeds: a counter
that could not be cleared only means an earlier failure is remembered a while longer."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from limits.aio.storage import MemoryStorage

from ostiary.authn.throttle import Throttle, ThrottlePolicy
from ostiary.wiring import Services
from tests.http._live import claims_of
from tests.http._server import PASSWORD, running, settings_for


class ClearFails(MemoryStorage):
    """Counts like memory, but cannot delete a key: a Redis that failed at that moment."""

    def __init__(self) -> None:
        super().__init__()
        self.clears = 0

    async def clear(self, key: str) -> None:
        self.clears += 1
        raise ConnectionError("Connection closed by server.")


async def test_a_login_whose_counter_reset_fails_still_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(settings_for(tmp_path)) as server:
        await server.add_user("alice")
        storage = ClearFails()
        throttle = Throttle(storage, ThrottlePolicy(), secret=b"k" * 32, clock=server.clock)
        services = server.services
        server.app.state.services = dataclasses.replace(services, throttle=throttle)
        assert isinstance(server.app.state.services, Services)

        with caplog.at_level(logging.WARNING, logger="ostiary"):
            answer = await server.client.post(
                "/auth/login", json={"username": "alice", "password": PASSWORD}
            )
        assert answer.status_code == 200, answer.text
        assert storage.clears >= 1  # the reset was tried, and failed
        assert "rate-limit" in caplog.text
        # The session the login stored is the one the client holds.
        pair = answer.json()
        assert (await server.profile(pair["access_token"])).status_code == 200
        refreshed = await server.refresh(pair["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        await throttle.close()


async def test_every_login_session_is_held_by_someone(tmp_path: Path) -> None:
    """After the failed reset, the user has exactly one session: the one the client holds."""
    async with running(settings_for(tmp_path)) as server:
        user_id = await server.add_user("alice")
        throttle = Throttle(ClearFails(), ThrottlePolicy(), secret=b"k" * 32, clock=server.clock)
        server.app.state.services = dataclasses.replace(server.services, throttle=throttle)
        answer = await server.client.post(
            "/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        sessions = await server.services.lifecycle.families.list_sessions(user_id)
        assert [s.id for s in sessions] == [claims_of(answer.json()["access_token"])["sid"]]
        await throttle.close()
