"""End to end: a live ``ostiary serve`` and a separate resource service (FastAPI under uvicorn,
built as docs/resource.md shows, ``install(app, verifier, revocations=RevocationStream(...))``).
A logout at the server reaches the service without any polling loop of ours; a stopped server
leaves the service verifying and reporting itself disconnected; a restarted one is found again
and what was revoked meanwhile is caught up from the cursor.

Every wait is a bounded loop on the service's own answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from fastapi import FastAPI

from ostiary.resource import ClientCredentialsAuth, RevocationStream, TokenVerifier
from ostiary.resource.fastapi import CurrentClaims, install
from ostiary.settings import Settings
from ostiary.storage.sql import SQLStorage
from ostiary.wiring import cli_lifecycle

from .._uvicorn import serve
from ._live import (
    AUDIENCE,
    bearer,
    claims_of,
    free_port,
    live_server,
    login,
    register_stream_reader,
    sqlite_url,
)

pytestmark = pytest.mark.slow

WAIT: Final = 15.0  # generous: the push takes well under a second
SERVICE_CLIENT: Final = "orders-api"


def _eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {WAIT} s: {what}")


def _orders_service(issuer: str, secret: str) -> FastAPI:
    """The resource service, as docs/resource.md builds it."""
    verifier = TokenVerifier(
        issuer=issuer, audience=AUDIENCE, jwks_url=f"{issuer}/.well-known/jwks.json"
    )
    auth = ClientCredentialsAuth(
        f"{issuer}/oauth/token",
        SERVICE_CLIENT,
        secret,
        scope="revocations:read",
        resource=f"{issuer}/auth/revocations",
    )
    revocations = RevocationStream(
        f"{issuer}/auth/revocations/stream",
        verifier,
        auth=auth,
        backoff_max=1.0,
        poll_interval=0.5,
    )
    app = FastAPI()
    install(app, verifier, public_paths={"/healthz"}, revocations=revocations)

    @app.get("/healthz")
    async def health() -> dict[str, Any]:
        return revocations.state.as_dict()

    @app.get("/orders")
    async def orders(claims: CurrentClaims) -> dict[str, str]:
        return {"user": claims.sub}

    return app


@pytest.fixture
def service_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[int, str, str]]:
    """A port for the auth server, its database and the service's client secret; the working
    directory is the server's, whose dev master key (``.ostiary``) the registry uses too."""
    port = free_port()
    workdir = tmp_path / "auth"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    database = sqlite_url(workdir)
    secret = register_stream_reader(database, port, client_id=SERVICE_CLIENT, name="Orders API")
    yield port, database, secret


def _end_session_offline(database: str, sid: str) -> None:
    """A logout written by another process while the server is down (as the CLI would)."""
    settings = Settings(database_url=database, dev=True)

    async def end() -> None:
        storage = SQLStorage.from_url(database)
        try:
            await cli_lifecycle(settings, storage).end_session(sid)
        finally:
            await storage.close()

    asyncio.run(end())


def test_a_logout_reaches_a_separate_service_through_the_stream(
    tmp_path: Path, service_setup: tuple[int, str, str]
) -> None:
    port, database, secret = service_setup
    workdir = tmp_path / "auth"
    issuer = f"http://127.0.0.1:{port}"
    app = _orders_service(issuer, secret)
    with live_server(workdir, database_url=database, port=port) as server:
        with server.client() as auth_api:
            first = login(auth_api, "alice", server.alice_password).json()["access_token"]
            second = login(auth_api, "alice", server.alice_password).json()["access_token"]
            other = login(auth_api, "admin", server.admin_password).json()["access_token"]
            with (
                serve(app, lifespan="on") as service_url,
                httpx.Client(base_url=service_url, timeout=10.0) as service,
            ):

                def status(token: str) -> int:
                    return service.get("/orders", headers=bearer(token)).status_code

                def health() -> dict[str, Any]:
                    answer: dict[str, Any] = service.get("/healthz").json()
                    return answer

                assert status(first) == 200
                _eventually(lambda: health()["connected"], "the service connected")

                assert auth_api.post("/auth/logout", headers=bearer(first)).status_code == 204
                _eventually(lambda: status(first) == 401, "the logout reached the service")
                refused = service.get("/orders", headers=bearer(first))
                assert refused.json()["error_description"] == "The token has been revoked."
                assert status(second) == 200
                cursor = health()["cursor"]
                assert cursor > 0

                server.stop()
                assert server.process.returncode in (0, -15), server.logs()[-2000:]
                _eventually(lambda: not health()["connected"], "the service saw it go")
                assert status(other) == 200  # verifying goes on
                assert health()["last_error"]

                _end_session_offline(database, claims_of(second)["sid"])
                assert status(second) == 200  # not known yet
                with live_server(workdir, database_url=database, port=port):
                    _eventually(lambda: health()["connected"], "the service reconnected")
                    _eventually(lambda: status(second) == 401, "the missed logout caught up")
                    assert status(other) == 200
                    assert health()["cursor"] > cursor
