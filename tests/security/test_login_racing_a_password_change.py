"""Attack: a login that races a password change survives it. Someone holding the old
password logs in; the owner changes the password, which ends every other session; the login,
which read the old password a moment before, stores its session a moment after that sweep,
and that session stayed valid (refresh and ``/auth/me`` worked). The single sign-on path
already compared the sign-in time with ``password_changed_at``; the first-party path did not.

The race is replayed exactly: the store lets the password change run at the instant the
login is about to store its session. Now the login sees the change and refuses itself, so no
session outlives a password change that happened after its login started."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from ostiary.storage.memory import MemoryStorage
from ostiary.storage.records import LoginSession, RefreshToken
from tests.http._oauth import (
    Pkce,
    authorize_query,
    is_login_page,
    oauth_settings,
    redirect_query,
    submit,
    web_client,
)
from tests.http._server import BAD_LOGIN, NEW_PASSWORD, PASSWORD, Server, bearer, running

Hook = Callable[[], Awaitable[None]]


class RacingStorage(MemoryStorage):
    """Memory storage whose next new refresh family or browser session first lets ``hook``
    run: the moment between a login's password check and its session being stored."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: Hook | None = None
        #: Whether a hook ran (the race happened).
        self.raced = False
        create_family = self.sessions.create
        create_browser = self.browser_sessions.create

        async def family(session: LoginSession, first_token: RefreshToken) -> None:
            await self._race()
            await create_family(session, first_token)

        async def browser(session: object) -> None:
            await self._race()
            await create_browser(session)  # type: ignore[arg-type]

        self.sessions.create = family  # type: ignore[method-assign]
        self.browser_sessions.create = browser  # type: ignore[method-assign]

    async def _race(self) -> None:
        hook, self.hook = self.hook, None
        if hook is not None:
            self.raced = True
            await hook()


@pytest.fixture
async def race(tmp_path: Path) -> AsyncIterator[tuple[Server, RacingStorage]]:
    storage = RacingStorage()
    async with running(oauth_settings(tmp_path), storage=storage) as srv:
        await srv.add_user("alice")
        yield srv, storage


def change_password(server: Server, token: str) -> Hook:
    async def hook() -> None:
        server.clock.advance(0.01)  # the change comes a moment after the login began
        answer = await server.client.post(
            "/auth/password",
            headers=bearer(token),
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert answer.status_code == 204, answer.text

    return hook


async def test_a_login_finishing_after_a_password_change_is_refused(
    race: tuple[Server, RacingStorage],
) -> None:
    server, storage = race
    owner = (await server.login())["access_token"]
    storage.hook = change_password(server, owner)

    attacker = await server.client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}
    )

    assert storage.raced  # the change did run in the middle of the login
    assert (attacker.status_code, attacker.json()) == (401, BAD_LOGIN)
    sessions = (await server.client.get("/auth/sessions", headers=bearer(owner))).json()
    assert len(sessions) == 1 and sessions[0]["current"]  # only the owner's is left
    assert (await server.client.get("/auth/me", headers=bearer(owner))).status_code == 200


async def test_a_single_sign_on_finishing_after_a_password_change_is_refused(
    race: tuple[Server, RacingStorage],
) -> None:
    server, storage = race
    await web_client(server)
    owner = (await server.login())["access_token"]
    query = authorize_query("web", Pkce.new())
    page = await server.client.get("/oauth/authorize", params=query)
    assert is_login_page(page)
    storage.hook = change_password(server, owner)

    answer = await submit(server.client, page, {"username": "alice", "password": PASSWORD})

    assert storage.raced
    assert answer.status_code == 401 and is_login_page(answer)
    silent = authorize_query("web", Pkce.new(), prompt="none")
    again = await server.client.get("/oauth/authorize", params=silent)
    assert redirect_query(again)["error"] == "login_required"
