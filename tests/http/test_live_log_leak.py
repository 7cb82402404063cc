"""Black-box: no secret reaches the real server's output. The server runs as verbose as it can
be made (every logger of ``ostiary serve``'s logging configuration and the root logger at
DEBUG), the README walkthrough runs against it (over httpx and as the printed shell block),
with failed logins, a registration, a password change, tokens put in URLs, forged tokens and
bad bodies; then its captured stdout and stderr are searched for every access token's
signature, every refresh token, every password and the master key.

``test_server_logs.py`` checks the same in-process, through the ``ostiary`` loggers only;
this one reads what the process actually wrote, uvicorn's lines included.
"""

from __future__ import annotations

import json
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import httpx
import pytest

from ._live import (
    LiveServer,
    SeenTokens,
    bearer,
    live_server,
    login,
    run_printed_walkthrough,
    signature_of,
    walk_readme,
)
from ._server import BAD_GRANT, BAD_LOGIN, REVOKED

pytestmark = pytest.mark.slow

#: A token or secret logged cut short is still leaked: its first and last this many characters
#: are looked for too.
FRAGMENT: Final = 16


@dataclass
class LeakRun:
    logs: str
    access_tokens: list[str]
    refresh_tokens: list[str]
    passwords: dict[str, str]
    master_key: str
    #: Answers that carried a secret in the request; none may echo it.
    refusals: dict[str, tuple[httpx.Response, str]] = field(default_factory=dict)

    def __repr__(self) -> str:  # short, and without the secrets, in failure reports
        return (
            f"LeakRun({len(self.logs.splitlines())} log lines, {len(self.access_tokens)} "
            f"access tokens, {len(self.refresh_tokens)} refresh tokens, "
            f"{len(self.passwords)} passwords)"
        )


def fragments(value: str) -> set[str]:
    if len(value) <= 2 * FRAGMENT:
        return {value}
    return {value, value[:FRAGMENT], value[-FRAGMENT:]}


def leaks(logs: str, secrets_by_name: dict[str, str]) -> list[str]:
    """Each log line that holds (a fragment of) a secret, the secret masked, with its name."""
    found = []
    for name, secret in secrets_by_name.items():
        for fragment in fragments(secret):
            for line in logs.splitlines():
                if fragment in line:
                    found.append(f"{name}: {line.replace(fragment, '<SECRET>')}")
    return found


def exercise(client: httpx.Client, server: LiveServer, run: LeakRun) -> None:
    """Every path a secret could take into a log line."""
    walk = walk_readme(client, server)
    assert walk["reuse"].status_code == 400 and walk["logout"].status_code == 204
    access, refresh = walk.tokens("refresh")

    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    unknown = f"unknown-{secrets.token_urlsafe(12)}"
    run.passwords |= {"wrong password of alice": wrong, "password of an unknown user": unknown}
    failed = login(client, "alice", wrong)
    assert (failed.status_code, failed.json()) == (401, BAD_LOGIN)
    assert login(client, "nobody", unknown).status_code == 401

    bob, bob_new = f"bob-{secrets.token_urlsafe(12)}", f"bob-new-{secrets.token_urlsafe(12)}"
    run.passwords |= {"bob's first password": bob, "bob's new password": bob_new}
    assert (
        client.post("/auth/register", json={"username": "bob", "password": bob}).status_code == 201
    )
    bob_tokens = login(client, "bob", bob).json()
    changed = client.post(
        "/auth/password",
        json={"current_password": bob, "new_password": bob_new},
        headers=bearer(bob_tokens["access_token"]),
    )
    assert changed.status_code == 204, changed.text
    refused = client.post(
        "/auth/password",
        json={"current_password": bob, "new_password": bob_new},
        headers=bearer(login(client, "bob", bob_new).json()["access_token"]),
    )
    assert refused.status_code == 403, refused.text
    run.refusals["wrong current password"] = (refused, bob)
    live = login(client, "bob", bob_new).json()

    # Secrets where they do not belong: in the URL (the access log must redact them) ...
    in_query = client.get("/auth/me", params={"access_token": live["access_token"]})
    assert in_query.status_code == 400, in_query.text  # refused, not read
    run.refusals["access token in the query"] = (in_query, live["access_token"])
    client.post("/auth/refresh", params={"refresh_token": live["refresh_token"]}, json={})
    client.post("/auth/login", params={"password": bob_new}, json={})
    # ... forged and garbled bearer tokens, whose parts the refusal must not quote ...
    head_and_payload, _ = live["access_token"].rsplit(".", 1)
    forged = f"{head_and_payload}.{signature_of(access)}"
    run.access_tokens.append(forged)
    assert client.get("/auth/me", headers=bearer(forged)).status_code == 401
    assert client.get("/api/profile", headers=bearer(forged)).status_code == 401
    assert client.get("/api/profile", headers=bearer(live["access_token"] + "x")).status_code == 401
    # ... unknown and revoked refresh tokens ...
    garbage = secrets.token_urlsafe(32)
    run.refresh_tokens.append(garbage)
    unknown_grant = client.post("/auth/refresh", json={"refresh_token": garbage})
    assert (unknown_grant.status_code, unknown_grant.json()) == (400, BAD_GRANT)
    assert client.post("/auth/refresh", json={"refresh_token": refresh}).status_code == 400
    # ... and bodies that are not what they should be, with a password in them.
    truncated = client.post(
        "/auth/login",
        content=f'{{"username": "alice", "password": "{server.alice_password}"',
        headers={"Content-Type": "application/json"},
    )
    assert truncated.status_code == 400
    run.refusals["truncated JSON"] = (truncated, server.alice_password)
    wrong_type = client.post("/auth/login", json={"username": 7, "password": server.alice_password})
    assert wrong_type.status_code == 400
    run.refusals["a field of the wrong type"] = (wrong_type, server.alice_password)
    wrong_type = client.post(
        "/auth/password",
        json={"current_password": [bob_new], "new_password": 7},
        headers=bearer(live["access_token"]),
    )
    assert wrong_type.status_code == 400
    run.refusals["a password of the wrong type"] = (wrong_type, bob_new)

    # Routing errors: the client's mistakes, answered 404 and 405.
    assert client.get("/no/such/path").status_code == 404
    assert client.get("/auth/logout").status_code == 405

    logged_out = client.post("/auth/logout-all", headers=bearer(live["access_token"]))
    assert logged_out.status_code == 204
    again = client.get("/auth/me", headers=bearer(live["access_token"]))
    assert (again.status_code, again.json()) == (401, REVOKED)


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeakRun]:
    """The whole run against a verbose server, stopped before its output is read."""
    workdir = tmp_path_factory.mktemp("live-leak")
    seen = SeenTokens()
    with live_server(workdir / "server", verbose=True) as server:
        run = LeakRun(
            logs="",
            access_tokens=seen.access_tokens,
            refresh_tokens=seen.refresh_tokens,
            passwords={"alice": server.alice_password, "admin": server.admin_password},
            master_key="",
        )
        with server.client(event_hooks={"response": [seen]}) as client:
            exercise(client, server, run)
        bash = run_printed_walkthrough(server, workdir / "bash")
        assert bash.returncode == 0 and len(bash.lines) == 9, bash.stdout + bash.stderr
        for line in (bash.lines[0], bash.lines[3], bash.files["login.json"]):
            seen.add(json.loads(line))
    # stopped by SIGTERM: uvicorn shuts down cleanly, then re-raises the signal
    assert server.process.returncode in (0, -signal.SIGTERM)
    run.logs = server.logs()
    run.master_key = (server.workdir / ".ostiary" / "master.key").read_text().strip()
    yield run


def test_the_captured_output_is_verbose_and_covers_the_run(leak_run: LeakRun) -> None:
    logs = leak_run.logs
    for expected in (
        "DEBUG",  # the most verbose level is on
        "Application startup complete",
        "login of ",
        "refresh token reuse",
        "bearer authentication failed",
        '"method":"POST","path":"/auth/refresh","http":"1.1","status":400',
        '"method":"GET","path":"/api/profile","http":"1.1","status":401',
        "/auth/me?access_token=REDACTED",
        "Application shutdown complete",
    ):
        assert expected in logs, expected
    assert "Traceback" not in logs
    # 3 walkthrough logins + admin + 3 of bob's, and 2 more from the printed walkthrough
    assert len(leak_run.access_tokens) >= 10
    assert len(leak_run.refresh_tokens) >= 10


def test_routing_errors_are_not_logged_as_server_errors(leak_run: LeakRun) -> None:
    """A 404 or a 405 is the client's mistake. The run had no 500 (no traceback, see above),
    so no line may call anything a ``server_error``: operators alert on that word."""
    assert '"method":"GET","path":"/no/such/path","http":"1.1","status":404' in leak_run.logs
    assert '"method":"GET","path":"/auth/logout","http":"1.1","status":405' in leak_run.logs
    assert [line for line in leak_run.logs.splitlines() if "server_error" in line] == []


def test_no_access_token_signature_is_in_the_logs(leak_run: LeakRun) -> None:
    named = {
        f"signature of access token {i}": signature_of(token)
        for i, token in enumerate(leak_run.access_tokens)
    }
    assert leaks(leak_run.logs, named) == []


def test_no_refresh_token_is_in_the_logs(leak_run: LeakRun) -> None:
    named = {f"refresh token {i}": token for i, token in enumerate(leak_run.refresh_tokens)}
    assert leaks(leak_run.logs, named) == []


def test_no_password_is_in_the_logs(leak_run: LeakRun) -> None:
    assert leaks(leak_run.logs, leak_run.passwords) == []


def test_the_master_key_is_not_in_the_logs(leak_run: LeakRun) -> None:
    assert len(leak_run.master_key) >= 32
    assert leaks(leak_run.logs, {"master key": leak_run.master_key}) == []


@pytest.mark.parametrize(
    "case",
    [
        "wrong current password",
        "access token in the query",
        "truncated JSON",
        "a field of the wrong type",
        "a password of the wrong type",
    ],
)
def test_refusals_do_not_echo_the_secret(leak_run: LeakRun, case: str) -> None:
    response, secret = leak_run.refusals[case]
    assert secret not in response.text
    assert all(secret not in value for value in response.headers.values())


def test_the_demo_passwords_came_from_the_environment(leak_run: LeakRun) -> None:
    """Sanity: the demo passwords were given through the environment, so the server had no
    reason to print them; what it printed instead is the variable's name."""
    assert "password from OSTIARY_DEMO_ALICE_PASSWORD" in leak_run.logs
    assert 'export ALICE_PASSWORD="$OSTIARY_DEMO_ALICE_PASSWORD"' in leak_run.logs
