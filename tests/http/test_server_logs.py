"""No token, refresh token or password reaches a log line: not through the server's own
loggers during the whole flow, and not through the access log when a client puts one in the
URL."""

from __future__ import annotations

import logging

import pytest

from ostiary.cli.serve import log_config
from ostiary.server.logs import RedactQuerySecrets, redact_query

from ._server import NEW_PASSWORD, PASSWORD, Server, bearer


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


def test_the_access_log_of_serve_redacts_queries() -> None:
    config = log_config()
    assert config["handlers"]["access"]["filters"] == ["redact_query"]
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/auth/me?access_token=secret", "1.1", 400),
        None,
    )
    assert RedactQuerySecrets().filter(record)
    assert "secret" not in record.getMessage()
