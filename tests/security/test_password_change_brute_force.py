"""CWE-307 / OWASP ASVS 2.2.1: ``POST /auth/password`` checks the current password, so it is a
credential check like a login, and must have the same anti-automation. Without it, whoever
holds an access token (stolen from a browser, a log, a shared machine) could guess the
account's password at full speed, learn it, and keep the account past the token's expiry.

The failures are counted with the login's (one per-account-and-address counter, one back-off,
one per-address limit): a token holder gets no guesses beyond what the login form allows, and
cannot double them by alternating the two endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from tests.http._server import NEW_PASSWORD, PASSWORD, Server, bearer, running, settings_for

#: More than enough guesses for any limit to show; the old code answered every one with 403.
GUESSES: Final = 40


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """Rate limits on, as in production (the HTTP tests' default turns them off)."""
    async with running(settings_for(tmp_path, rate_limits_enabled=True)) as srv:
        await srv.add_user("alice")
        yield srv


async def change(server: Server, token: str, current: str) -> httpx.Response:
    return await server.client.post(
        "/auth/password",
        json={"current_password": current, "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )


async def guess_until_refused(server: Server, token: str) -> list[int]:
    statuses = []
    for i in range(GUESSES):
        answer = await change(server, token, f"guess-{i}-wrong")
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            break
    return statuses


async def test_guessing_the_current_password_is_throttled(server: Server) -> None:
    token = (await server.login())["access_token"]
    statuses = await guess_until_refused(server, token)
    backoff_after = server.services.throttle.policy.backoff_after
    assert statuses == [403] * backoff_after + [429]

    # While locked, even the right password is refused, with the time to wait.
    locked = await change(server, token, PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1


async def test_the_back_off_ends_and_the_right_password_then_works(server: Server) -> None:
    token = (await server.login())["access_token"]
    await guess_until_refused(server, token)
    server.clock.advance(server.services.throttle.policy.backoff_max_seconds)
    changed = await change(server, token, PASSWORD)
    assert changed.status_code == 204, changed.text


async def test_failed_password_changes_lock_the_login(server: Server) -> None:
    """One counter: the guesses at ``/auth/password`` lock the login from that address too."""
    token = (await server.login())["access_token"]
    await guess_until_refused(server, token)
    login = await server.client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert login.status_code == 429


async def test_failed_logins_count_at_the_password_change(server: Server) -> None:
    """...and the other way round: alternating the two endpoints gains no guess."""
    token = (await server.login())["access_token"]
    backoff_after = server.services.throttle.policy.backoff_after
    for i in range(backoff_after - 1):
        wrong = await server.client.post(
            "/auth/login", json={"username": "alice", "password": f"wrong-{i}"}
        )
        assert wrong.status_code == 401
    assert (await change(server, token, "one-more-wrong")).status_code == 403
    assert (await change(server, token, PASSWORD)).status_code == 429


async def test_another_address_is_not_locked_out(server: Server) -> None:
    """The back-off is per account and address: a thief's guesses do not lock the owner out
    of their account from their own address."""
    token = (await server.login())["access_token"]
    await guess_until_refused(server, token)
    transport = httpx.ASGITransport(app=server.app, client=("198.51.100.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as owner:
        login = await owner.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 200, login.text
