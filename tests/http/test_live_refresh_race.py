"""Black-box: 20 concurrent refreshes of one refresh token against the real server give exactly
one new pair; the others are reuse (400 ``invalid_grant``). On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Final

import httpx
import pytest

from ._live import LiveServer, PostgresUnavailable, bearer, live_server, postgres_database
from ._server import BAD_GRANT, REVOKED

pytestmark = pytest.mark.slow

RACERS: Final = 20
ROUNDS: Final = 3
DRIVERS: Final = {"sqlite": "sqlite+aiosqlite://", "postgresql": "postgresql+asyncpg://"}
#: The race itself is under test, not the refresh limit per address.
#: Without the grace window, which would answer every loser of the race with the winner's pair.
RACE_ENV: Final = {
    "OSTIARY_REFRESH_ADDRESS_RATE_LIMIT": "1000/minute",
    "OSTIARY_REFRESH_GRACE_SECONDS": "0",
}


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("live-race-sqlite"), env=RACE_ENV) as server:
        yield server


@pytest.fixture(scope="module")
def postgresql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server on a fresh PostgreSQL database (created here, migrated by the server at
    start, dropped at the end). Without PostgreSQL this skips, and so fails under CI."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database("ostiary_live_race"))
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
        workdir = tmp_path_factory.mktemp("live-race-pg")
        yield stack.enter_context(live_server(workdir, database_url=url, env=RACE_ENV))


async def race(client: httpx.AsyncClient, refresh_token: str) -> list[httpx.Response]:
    """``RACERS`` refreshes, each on its own connection, sent all at once."""
    return await asyncio.gather(
        *(
            client.post("/auth/refresh", json={"refresh_token": refresh_token})
            for _ in range(RACERS)
        )
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_concurrent_refreshes_of_one_token_give_one_pair(
    backend: str, request: pytest.FixtureRequest
) -> None:
    server: LiveServer = request.getfixturevalue(f"{backend}_server")
    assert server.database_url.startswith(DRIVERS[backend])
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with server.async_client(limits=limits) as client:
        for _ in range(ROUNDS):
            login = await client.post(
                "/auth/login", json={"username": "alice", "password": server.alice_password}
            )
            assert login.status_code == 200, login.text
            answers = await race(client, login.json()["refresh_token"])

            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200] + [400] * (RACERS - 1), [a.text for a in answers]
            (winner,) = (a.json() for a in answers if a.status_code == 200)
            assert all(a.json() == BAD_GRANT for a in answers if a.status_code == 400)

            # The losers presented a used token: reuse, so the session is revoked, the
            # winner's new pair with it.
            again = await client.post(
                "/auth/refresh", json={"refresh_token": winner["refresh_token"]}
            )
            assert (again.status_code, again.json()) == (400, BAD_GRANT)
            profile = await client.get("/api/profile", headers=bearer(winner["access_token"]))
            assert (profile.status_code, profile.json()) == (401, REVOKED)
    assert server.process.poll() is None
    assert "Traceback" not in server.logs()
