"""Lockout as denial of service: an attacker who fails to log in as alice again and again,
from one address or from many, must not lock alice out. The back-off is per account *and*
address; there is no account-wide lockout, and a success clears only its own address."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.http._server import BASE_URL, PASSWORD, running, settings_for

SETTINGS = {
    "rate_limits_enabled": True,
    "login_rate_limit": "1000/hour",
    "login_address_rate_limit": "1000/hour",
    "login_backoff_after": 3,
    "login_backoff_base_seconds": 60,
    "login_backoff_max_seconds": 600,
}
ATTACKERS = [f"198.51.100.{n}" for n in range(1, 11)]
VICTIM = "203.0.113.99"


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 5555))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


async def attempt(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"username": "alice", "password": password})


async def test_failures_from_many_addresses_do_not_lock_the_owner_out(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, **SETTINGS)) as server:
        await server.add_user("alice")
        for address in ATTACKERS:
            async with client_at(server.app, address) as attacker:
                answers = [await attempt(attacker, "wrong password!") for _ in range(6)]
                assert [a.status_code for a in answers] == [401, 401, 401, 429, 429, 429]
        async with client_at(server.app, VICTIM) as victim:
            assert (await attempt(victim, PASSWORD)).status_code == 200


async def test_refused_attempts_do_not_extend_the_backoff(tmp_path: Path) -> None:
    """Hammering while backed off costs the attacker nothing more, and costs the server no
    password hashing; the wait ends when it said it would."""
    async with running(settings_for(tmp_path, **SETTINGS)) as server:
        await server.add_user("alice")
        for _ in range(3):
            await attempt(server.client, "wrong password!")
        first = await attempt(server.client, "wrong password!")
        assert first.status_code == 429
        for _ in range(50):
            assert (await attempt(server.client, "wrong password!")).status_code == 429
        server.clock.advance(int(first.headers["retry-after"]))
        assert (await attempt(server.client, PASSWORD)).status_code == 200
