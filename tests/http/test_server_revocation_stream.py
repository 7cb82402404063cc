"""``GET /auth/revocations/stream``: the revocation feed pushed as Server-Sent Events, through
a real uvicorn (an in-process ASGI client would wait for the end of an endless response).

Every read is bounded by the client's read timeout: a missing event fails, never hangs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from ostiary.authn.client_registry import Registered
from ostiary.authn.client_settings import ClientSettings
from ostiary.authz.trust import REVOCATIONS_SCOPE
from ostiary.clock import SYSTEM_CLOCK
from ostiary.server import create_app
from ostiary.storage.sql import SQLStorage, upgrade
from ostiary.wiring import accounts, cli_lifecycle, client_registry, load_master_key

from .._uvicorn import base_url, loopback_socket, serve
from ._live import sqlite_url
from ._server import PASSWORD, bearer, settings_for

READ_TIMEOUT: Final = 10.0
MAX_LINES: Final = 500
FEED_CLIENT: Final = "stream-reader"


@dataclass(frozen=True)
class StreamServer:
    url: str
    secret: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=READ_TIMEOUT)

    def feed_token(self, client: httpx.Client) -> str:
        answer = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(FEED_CLIENT, self.secret),
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def login(self, client: httpx.Client) -> dict[str, Any]:
        answer = client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
def stream_server(tmp_path: Path) -> Iterator[StreamServer]:
    """The auth server on SQLite under uvicorn, lifespan included: alice, and a resource
    service registered for the feed. One stream at a time; heartbeats every 0.2 s."""
    sock = loopback_socket()
    issuer = base_url(sock)
    database = sqlite_url(tmp_path)
    settings = settings_for(
        tmp_path,
        database_url=database,
        issuer=issuer,
        revocation_stream_heartbeat_seconds=0.2,
        revocation_stream_max_clients=1,
    )
    load_master_key(settings)  # created in dev mode: the registry derives a secret from it
    upgrade(database)

    async def prepare() -> Registered:
        storage = SQLStorage.from_url(database)
        try:
            await accounts(settings, storage, clock=SYSTEM_CLOCK).create(
                "alice", PASSWORD, roles=("user",)
            )
            registry = client_registry(
                settings, storage, cli_lifecycle(settings, storage), clock=SYSTEM_CLOCK
            )
            return await registry.create(
                ClientSettings(
                    name="Stream reader",
                    scopes=frozenset({REVOCATIONS_SCOPE}),
                    audiences=frozenset({f"{issuer}/auth/revocations"}),
                ),
                client_id=FEED_CLIENT,
            )
        finally:
            await storage.close()

    registered = asyncio.run(prepare())
    assert registered.secret is not None
    with serve(create_app(settings), sock=sock, lifespan="on") as url:
        yield StreamServer(url, registered.secret)


def _until(lines: Iterator[str], found: Callable[[str], bool]) -> list[str]:
    """Lines up to and including the first one ``found`` accepts."""
    seen: list[str] = []
    for _ in range(MAX_LINES):
        seen.append(next(lines))
        if found(seen[-1]):
            return seen
    raise AssertionError(f"not found in {MAX_LINES} lines: {seen[-20:]}")


def _events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data:")]


def test_a_users_token_and_no_token_are_refused(stream_server: StreamServer) -> None:
    with stream_server.client() as client:
        user_token = stream_server.login(client)["access_token"]
        refused = client.get("/auth/revocations/stream", headers=bearer(user_token))
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith('Bearer realm="ostiary"')
        assert "error=" in refused.headers["www-authenticate"]
        anonymous = client.get("/auth/revocations/stream")
        assert anonymous.status_code == 401


def test_a_logout_made_after_connecting_is_pushed(stream_server: StreamServer) -> None:
    with stream_server.client() as client, stream_server.client() as other:
        token = stream_server.feed_token(client)
        victim = stream_server.login(other)
        with client.stream("GET", "/auth/revocations/stream", headers=bearer(token)) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-store"
            assert stream.headers["x-accel-buffering"] == "no"
            lines = stream.iter_lines()
            assert _until(lines, lambda line: line == ": connected")[0].startswith("retry: ")
            logout = other.post("/auth/logout", headers=bearer(victim["access_token"]))
            assert logout.status_code == 204
            seen = _until(lines, lambda line: line.startswith("data:"))
        (event,) = _events(seen)
        assert event["kind"] == "sid"
        assert f"id: {event['seq']}" in seen
        assert "event: revocation" in seen


def test_heartbeats_keep_an_idle_stream_open(stream_server: StreamServer) -> None:
    with stream_server.client() as client:
        token = stream_server.feed_token(client)
        with client.stream("GET", "/auth/revocations/stream", headers=bearer(token)) as stream:
            lines = stream.iter_lines()
            _until(lines, lambda line: line == ": connected")
            _until(lines, lambda line: line == ": heartbeat")
            _until(lines, lambda line: line == ": heartbeat")


def test_last_event_id_resumes_after_the_cursor(stream_server: StreamServer) -> None:
    with stream_server.client() as client:
        token = stream_server.feed_token(client)
        for _ in range(3):
            pair = stream_server.login(client)
            assert client.post("/auth/logout", headers=bearer(pair["access_token"])).is_success
        feed = client.get("/auth/revocations", headers=bearer(token)).json()["revocations"]
        seqs = [entry["seq"] for entry in feed]
        assert len(seqs) == 3
        headers = {**bearer(token), "Last-Event-ID": str(seqs[0])}
        with client.stream("GET", "/auth/revocations/stream", headers=headers) as stream:
            seen = _until(stream.iter_lines(), lambda line: line == ": heartbeat")
        assert [e["seq"] for e in _events(seen)] == seqs[1:]
        with client.stream(
            "GET", f"/auth/revocations/stream?since={seqs[1]}", headers=bearer(token)
        ) as stream:
            seen = _until(stream.iter_lines(), lambda line: line == ": heartbeat")
        assert [e["seq"] for e in _events(seen)] == seqs[2:]
        bad = client.get(
            "/auth/revocations/stream", headers={**bearer(token), "Last-Event-ID": "x"}
        )
        assert bad.status_code == 400


def test_streams_beyond_the_cap_get_503_with_retry_after(stream_server: StreamServer) -> None:
    with stream_server.client() as client, stream_server.client() as second:
        token = stream_server.feed_token(client)
        with client.stream("GET", "/auth/revocations/stream", headers=bearer(token)) as stream:
            lines = stream.iter_lines()  # kept: a dropped iterator closes the connection
            _until(lines, lambda line: line == ": connected")
            refused = second.get("/auth/revocations/stream", headers=bearer(token))
            assert refused.status_code == 503
            assert refused.headers["retry-after"].isdigit()
            assert refused.json()["status"] == 503
