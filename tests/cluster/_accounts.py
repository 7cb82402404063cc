"""Users and sessions of the cluster tests, over HTTP: each test registers users of its own,
so that the per-account login limit (10/minute) of one never counts another's logins."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

from ..http._live import bearer
from ._cluster import user_password


@dataclass(frozen=True)
class Account:
    username: str
    password: str

    def credentials(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


async def register(client: httpx.AsyncClient, prefix: str = "user") -> Account:
    account = Account(f"{prefix}-{secrets.token_hex(5)}", user_password())
    answer = await client.post("/auth/register", json=account.credentials())
    assert answer.status_code == 201, answer.text
    return account


async def login(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await client.post("/auth/login", json=account.credentials())


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": refresh_token})


async def logout(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.post("/auth/logout", headers=bearer(access_token))


async def profile(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    """A protected call of the demo API (audience ``api``)."""
    return await client.get("/api/profile", headers=bearer(access_token))
