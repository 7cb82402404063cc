"""No token, refresh token or password reaches a log line: not through the server's own
loggers during the whole flow, and not through the access log when a client puts one in the
URL."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
import pytest

from ostiary.cli.serve import uvicorn_options
from ostiary.server import create_app
from ostiary.server.access_log import AccessLog
from ostiary.server.logs import redact_query

from ._server import NEW_PASSWORD, PASSWORD, Server, bearer, settings_for


async def test_the_whole_flow_logs_no_secret(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    secrets: list[str] = [PASSWORD, NEW_PASSWORD]
    with caplog.at_level(logging.DEBUG):
        first = await server.login()
        second = (await server.refresh(first["refresh_token"])).json()
        server.past_refresh_grace()
        await server.refresh(first["refresh_token"])  # reuse: logged as a warning
        third = await server.login()
        await server.client.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=bearer(third["access_token"]),
        )
        await server.client.post("/auth/login", json={"username": "alice", "password": "wrong!"})
        await server.client.get(f"/auth/me?access_token={third['access_token']}")
        await server.client.post("/auth/logout", headers=bearer(third["access_token"]))
        await server.profile(third["access_token"])
    for tokens in (first, second, third):
        secrets += [tokens["refresh_token"], tokens["access_token"].rsplit(".", 1)[1]]
    # the test's own HTTP client logs its URLs: only the server's lines count
    server_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ostiary"))
    assert "refresh token reuse" in server_log
    for secret in [*secrets, "wrong!"]:
        assert secret not in server_log


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/auth/me?access_token=a.b.c&x=1", "/auth/me?access_token=REDACTED&x=1"),
        ("/x?Password=hunter2", "/x?password=REDACTED"),
        ("/x?access%5Ftoken=abc", "/x?access_token=REDACTED"),
        ("/x?refresh_token=", "/x?refresh_token=REDACTED"),
        ("/x?since=4&limit=10", "/x?since=4&limit=10"),
        ("/x", "/x"),
    ],
)
def test_secret_query_values_are_redacted(path: str, logged: str) -> None:
    assert redact_query(path) == logged


async def test_the_server_access_log_redacts_and_stays_on_one_line(tmp_path: Path) -> None:
    """The app's own access log (``OSTIARY_ACCESS_LOG``, on by default), as ``serve`` runs it:
    one JSON line per request, the credential redacted, no control character."""
    stream = io.StringIO()
    app = create_app(settings_for(tmp_path), access_log=AccessLog(stream, interval=0.01))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await c.get("/auth/me?access_token=secret-value&x=1")
            await c.get("/nothing%0Aforged?a%0Ab=1")
    (me, nothing) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert me["path"] == "/auth/me?access_token=REDACTED&x=1" and me["status"] == 400
    assert "secret-value" not in stream.getvalue()
    assert nothing["status"] == 404 and "\n" not in nothing["path"]


def test_serve_turns_uvicorns_access_log_off_for_the_apps() -> None:
    """One access log, not two: uvicorn's (a ``logging`` record per request, written on the
    event loop) is off; the app's is on by default."""
    settings = settings_for(Path("."))
    assert uvicorn_options(settings, host="127.0.0.1", port=8000)["access_log"] is False
    assert settings.access_log is True
