"""Running the auth server in-process for the HTTP tests, and the exact answers they expect."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from fastapi import FastAPI

from ostiary.authn.client_settings import CLIENT_CREDENTIALS, ClientSettings
from ostiary.authz.trust import REVOCATIONS_SCOPE
from ostiary.clock import FrozenClock
from ostiary.jose.dpop import DEFAULT_DPOP_ALGORITHMS
from ostiary.server import create_app
from ostiary.settings import Settings
from ostiary.storage import Storage
from ostiary.wiring import Services

PASSWORD: Final = "correct horse battery"
NEW_PASSWORD: Final = "staple battery horse correct"
CLIENT_ADDRESS: Final = "203.0.113.7"
BASE_URL: Final = "http://localhost"  # loopback: plain-HTTP cookies, as on a dev machine
#: Fast argon2 for tests: the OWASP parameters cost ~30 ms a hash.
FAST_ARGON2: Final = {"argon2_memory_kib": 256, "argon2_time_cost": 1}
#: RSA-2048 for the ID-token keys each test server makes: RSA-3072 costs 0.25 s to generate.
FAST_KEYS: Final = {"rsa_key_bits": 2048}

NO_STORE: Final = {"cache-control": "no-store", "pragma": "no-cache"}
BAD_LOGIN: Final = {
    "error": "invalid_grant",
    "error_description": "The username or password is incorrect.",
}
BAD_GRANT: Final = {
    "error": "invalid_grant",
    "error_description": "The grant is invalid, expired or revoked.",
}
REVOKED: Final = {"error": "invalid_token", "error_description": "The token has been revoked."}
#: The server's own APIs take Bearer and DPoP tokens (RFC 9449 §7.1): both challenges.
NO_CREDENTIALS: Final = {"error_description": "Bearer or DPoP authentication is required."}
SERVER_REALM: Final = (
    f'Bearer realm="ostiary", DPoP realm="ostiary", algs="{" ".join(DEFAULT_DPOP_ALGORITHMS)}"'
)
#: The client id of :meth:`Server.feed_token`'s resource service.
FEED_READER: Final = "feed-reader"


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    """Dev mode on memory storage with fast argon2; the master key file under ``tmp_path``."""
    values: dict[str, Any] = {
        "database_url": "memory://",
        "dev": True,
        "dev_key_dir": tmp_path / ".ostiary",
        # Off, or the many requests of one test from one address would be throttled; the
        # rate-limit tests turn them on (tests/http/test_server_rate_limits.py).
        "rate_limits_enabled": False,
        **FAST_ARGON2,
        **FAST_KEYS,
    }
    values.update(overrides)
    return Settings(**values)


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def oauth(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Server:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    clock: FrozenClock
    _feed_secret: str | None = None

    @property
    def services(self) -> Services:
        services = self.app.state.services
        assert isinstance(services, Services)
        return services

    async def add_user(self, username: str = "alice", *roles: str) -> str:
        """Create a user (role ``user`` unless given) and return its id."""
        user = await self.services.accounts.create(username, PASSWORD, roles=roles or ("user",))
        return user.id

    async def login(self, username: str = "alice", password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post(
            "/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.client.post("/auth/refresh", json={"refresh_token": refresh_token})

    def past_refresh_grace(self) -> None:
        """Move the clock past the refresh grace window: from now on, a refresh token used
        before is reuse, not a retry answered with the same successor."""
        self.clock.advance(self.settings.refresh_grace_seconds + 1)

    async def profile(self, access_token: str) -> httpx.Response:
        return await self.client.get("/auth/me", headers=bearer(access_token))

    async def feed_token(self) -> str:
        """What a resource service reads the revocation feed with: a client-credentials
        token of a client registered for the feed's audience and ``revocations:read``."""
        registry = self.services.oauth.clients
        if self._feed_secret is None:
            registered = await registry.create(
                ClientSettings(
                    name="Revocation feed reader",
                    grant_types=frozenset({CLIENT_CREDENTIALS}),
                    scopes=frozenset({REVOCATIONS_SCOPE}),
                    audiences=frozenset({self.services.audiences.revocations}),
                ),
                client_id=FEED_READER,
            )
            self._feed_secret = registered.secret
        assert self._feed_secret is not None
        answer = await self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(FEED_READER, self._feed_secret),
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    *,
    storage: Storage | None = None,
    clock: FrozenClock | None = None,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[Server]:
    """The app with its lifespan run, and a client that talks to it in-process."""
    clock = clock or FrozenClock(time.time())
    app = create_app(settings, storage=storage, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(
            app=app, client=(CLIENT_ADDRESS, 4321), raise_app_exceptions=raise_app_exceptions
        )
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Server(app, client, settings, clock)
