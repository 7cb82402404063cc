"""CWE-532 / CWE-598: credentials in a URL query written to the access log. OpenID Connect
sends ``id_token_hint`` to ``/oauth/logout`` in the query of a GET (RP-Initiated Logout §2),
and a confused client may put a ``code``, a ``client_secret``, a ``client_assertion`` or a
``code_verifier`` in the query of the authorization or token endpoint. uvicorn's access log
line names the whole request target; every such value must be replaced by ``REDACTED`` there.

One test checks the server's access line (``ostiary.server.access_log``), parameter by
parameter; the other runs the real server and reads what it wrote.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from ostiary.server.access_log import access_line
from ostiary.server.logs import SECRET_PARAMETERS, redact_query
from tests.http._live import LiveServer, live_server

#: Every parameter that carries a credential, a token or what proves possession of one.
CREDENTIAL_PARAMETERS: Final = (
    "access_token",
    "refresh_token",
    "id_token_hint",
    "logout_token",
    "code",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "assertion",
    "subject_token",
    "actor_token",
    "token",
    "password",
    "current_password",
    "new_password",
    "csrf_token",
)


def logged_path(target: str) -> str:
    """The ``path`` the access log writes for a request to ``target``."""
    line = access_line(
        started=0.0,
        elapsed=0.001,
        client=("127.0.0.1", 1),
        method="GET",
        target=target,
        http_version="1.1",
        status=302,
        sent=0,
    )
    assert "\n" not in line
    path: str = json.loads(line)["path"]
    return path


@pytest.mark.parametrize("name", CREDENTIAL_PARAMETERS)
def test_the_access_line_redacts_every_credential(name: str) -> None:
    secret = secrets.token_urlsafe(24)
    logged = logged_path(f"/oauth/authorize?client_id=app&{name}={secret}&scope=openid")
    assert secret not in logged
    assert f"{name}=REDACTED" in logged and "client_id=app" in logged


def test_every_credential_parameter_is_a_secret_parameter() -> None:
    assert set(CREDENTIAL_PARAMETERS) <= SECRET_PARAMETERS


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        (
            "/oauth/logout?id_token_hint=a.b.c&state=s",
            "/oauth/logout?id_token_hint=REDACTED&state=s",
        ),
        ("/cb?Code=abc", "/cb?code=REDACTED"),
        ("/x?client%5Fsecret=abc", "/x?client_secret=REDACTED"),
        ("/x?code_challenge=abc&client_id=app", "/x?code_challenge=abc&client_id=app"),
    ],
)
def test_redact_query(target: str, logged: str) -> None:
    assert redact_query(target) == logged


def test_the_access_line_escapes_control_characters_of_the_target() -> None:
    """CWE-117 in the access log too: a decoded line break in a parameter name stays on the
    line."""
    assert "\n" not in logged_path("/x?a%0Ab=1&\nforged=1")


# --- the real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("access-log") / "server") as server:
        yield server


@pytest.mark.slow
def test_the_real_access_log_holds_no_credential(live: LiveServer) -> None:
    values = {name: f"{name}-{secrets.token_urlsafe(18)}" for name in CREDENTIAL_PARAMETERS}
    with live.client() as client:
        logout = client.get("/oauth/logout", params={"id_token_hint": values["id_token_hint"]})
        assert logout.status_code < 500
        authorize = client.get(
            "/oauth/authorize",
            params={"response_type": "code", "client_id": "nobody", **values},
        )
        assert authorize.status_code < 500
        token = client.post("/oauth/token", params=values, data={"grant_type": "x"})
        assert token.status_code < 500
    lines = live.access_log()
    live.stop()
    logs = live.logs()
    requests = {(line["method"], line["path"].partition("?")[0]): line for line in lines}
    assert requests["GET", "/oauth/logout"]["path"] == "/oauth/logout?id_token_hint=REDACTED"
    assert ("GET", "/oauth/authorize") in requests and ("POST", "/oauth/token") in requests
    leaked = [name for name, value in values.items() if value in logs]
    assert leaked == []


@pytest.mark.slow
def test_a_newline_in_the_target_does_not_forge_an_access_line(tmp_path: Path) -> None:
    """CWE-117 through the real server's output: uvicorn percent-encodes the path it logs,
    and the app's own error line escapes it."""
    forged = "2025-01-01 00:00:00 INFO ostiary.audit admin granted to mallory"
    with live_server(tmp_path / "server") as server, server.client() as client:
        answer = client.get("/nothing%0A" + forged.replace(" ", "%20"))
        assert answer.status_code == 404
        client.get("/readyz")
        server.stop()
        lines = server.logs().splitlines()
    assert not [line for line in lines if line.startswith(forged)]
    assert any("http_404" in line and forged in line for line in lines)
