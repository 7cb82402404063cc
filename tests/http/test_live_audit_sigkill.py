"""Black-box: the audit trail survives a SIGKILL of the real server (issue 10 §3). Events were
stored in batches 50 ms after the answer, and their JSON lines written only then: a process
killed right after answering lost them from the database and from the log alike.

Now a security event is stored before the answer is sent, and every event's line is logged
before it: a login answered is a login recorded, whatever happens to the process next."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from ostiary.storage.records import AuditEvent
from ostiary.storage.sql import SQLStorage

from ._live import REQUEST_TIMEOUT, claims_of, live_server

pytestmark = pytest.mark.slow


def audit_lines(logs: str) -> list[dict[str, Any]]:
    """The JSON lines of the ``ostiary.audit`` logger in the server's output."""
    found = []
    for line in logs.splitlines():
        start = line.find('{"seq"')
        if start >= 0:
            found.append(json.loads(line[start:]))
    return found


async def stored_events(database_url: str) -> list[AuditEvent]:
    storage = SQLStorage.from_url(database_url)
    try:
        return list(await storage.audit.query(limit=1000))
    finally:
        await storage.close()


def test_events_answered_before_a_sigkill_are_kept(tmp_path: Path) -> None:
    with live_server(tmp_path / "server") as server:
        with server.client() as client:
            login = client.post(
                "/auth/login",
                json={"username": "alice", "password": server.alice_password},
            )
            assert login.status_code == 200, login.text
            refreshed = client.post(
                "/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
            )
            assert refreshed.status_code == 200, refreshed.text
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=REQUEST_TIMEOUT)
        assert server.process.returncode == -signal.SIGKILL
        session = claims_of(login.json()["access_token"])["sid"]

        stored = asyncio.run(stored_events(server.database_url))
        assert [e.kind for e in stored if e.data.get("session") == session][:1] == ["login"]

        logged = [
            (line["kind"], line["outcome"])
            for line in audit_lines(server.logs())
            if line["data"].get("session") == session
        ]
        assert logged == [("login", "success"), ("refresh", "success")]
