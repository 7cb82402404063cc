"""Credential stuffing and password guessing against ``POST /auth/login``: many passwords for
one account from one address are refused with 429 and ``Retry-After``, the account still signs
in from another address, and an unknown username is throttled exactly like a known one (the
answers do not tell whether an account exists)."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.http._server import BASE_URL, PASSWORD, running, settings_for

LIMITS = {"rate_limits_enabled": True, "login_rate_limit": "5/hour", "login_backoff_after": 1000}


def client_from(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 5555))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


async def guesses(client: httpx.AsyncClient, username: str, count: int) -> list[httpx.Response]:
    return [
        await client.post("/auth/login", json={"username": username, "password": f"guess {i}!"})
        for i in range(count)
    ]


def shape(responses: list[httpx.Response]) -> list[tuple[int, str, str | None]]:
    return [(r.status_code, r.text, r.headers.get("retry-after")) for r in responses]


async def test_many_passwords_from_one_address_are_refused(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, **LIMITS)) as server:
        await server.add_user("alice")
        answers = await guesses(server.client, "alice", 8)
        assert [r.status_code for r in answers] == [401] * 5 + [429] * 3
        assert all(int(r.headers["retry-after"]) >= 1 for r in answers[5:])
        # The right password from the attacker's address is refused too (no oracle).
        right = await server.client.post(
            "/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert right.status_code == 429
        async with client_from(server.app, "198.51.100.20") as elsewhere:
            ok = await elsewhere.post(
                "/auth/login", json={"username": "alice", "password": PASSWORD}
            )
            assert ok.status_code == 200


async def test_unknown_and_known_users_are_throttled_alike(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, **LIMITS)) as server:
        await server.add_user("alice")
        known = await guesses(server.client, "alice", 7)
        unknown = await guesses(server.client, "mallory-does-not-exist", 7)
        assert [r[:2] for r in shape(known)] == [r[:2] for r in shape(unknown)]
        # Retry-After counts whole seconds to the window's end: the two batches may straddle
        # a second boundary, which tells nothing about the account.
        for (_, _, after_known), (_, _, after_unknown) in zip(
            shape(known), shape(unknown), strict=True
        ):
            assert (after_known is None) == (after_unknown is None)
            if after_known is not None and after_unknown is not None:
                assert abs(int(after_known) - int(after_unknown)) <= 1
