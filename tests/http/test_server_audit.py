"""The audit trail of the server's flows: an event for each, stored and logged as one JSON
line, and never a secret (token, password, client secret) in any field or line."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ostiary.storage import StorageError
from ostiary.storage.records import AuditEvent

from ._oauth import basic, code_flow_tokens, oauth_server, refresh, service_client, web_client
from ._server import (
    CLIENT_ADDRESS,
    NEW_PASSWORD,
    PASSWORD,
    Server,
    bearer,
    running,
    settings_for,
)

AGENT = "audit-test/1.0"


async def events(server: Server, **filters: Any) -> list[AuditEvent]:
    await server.services.audit.drain()
    return list(await server.services.storage.audit.query(limit=1000, **filters))


def kinds(found: list[AuditEvent]) -> list[tuple[str, str]]:
    return [(e.kind, e.outcome) for e in found]


def assert_no_secret(found: list[AuditEvent], lines: list[str], secrets: list[str]) -> None:
    stored = json.dumps([dataclass_dict(e) for e in found])
    for secret in secrets:
        assert secret not in stored
        assert not [line for line in lines if secret in line]


def dataclass_dict(event: AuditEvent) -> dict[str, Any]:
    return {s: getattr(event, s) if s != "data" else dict(event.data) for s in event.__slots__}


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ostiary.audit"]


async def test_the_first_party_flows_are_audited_without_secrets(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ostiary.audit")
    alice = (await server.services.accounts.get_by_username("alice")).id
    bad = await server.client.post(
        "/auth/login",
        json={"username": "alice", "password": "wrong-horse-123"},
        headers={"user-agent": AGENT},
    )
    assert bad.status_code == 401
    response = await server.client.post(
        "/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"user-agent": AGENT},
    )
    tokens = response.json()
    renewed = (await server.refresh(tokens["refresh_token"])).json()
    server.past_refresh_grace()
    reused = await server.refresh(tokens["refresh_token"])  # reuse: the family is revoked
    assert reused.status_code == 400
    second = await server.login()
    changed = await server.client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(second["access_token"]),
    )
    assert changed.status_code == 204
    assert (
        await server.client.post("/auth/logout", headers=bearer(second["access_token"]))
    ).status_code == 204
    third = await server.login(password=NEW_PASSWORD)
    logout_all = await server.client.post("/auth/logout-all", headers=bearer(third["access_token"]))
    assert logout_all.status_code == 204

    found = await events(server, subject=alice)
    assert kinds(found) == [
        ("login", "success"),
        ("refresh", "success"),
        ("refresh.reuse", "failure"),
        ("login", "success"),
        ("user.password", "success"),
        ("logout", "success"),
        ("login", "success"),
        ("logout_all", "success"),
    ]
    failure = (await events(server, kind="login"))[0]
    assert (failure.outcome, failure.actor, failure.subject) == ("failure", "system", None)
    assert failure.data["username"] == "alice"
    login = found[0]
    assert (login.actor, login.address, login.user_agent) == (alice, CLIENT_ADDRESS, AGENT)
    assert found[1].address == CLIENT_ADDRESS  # taken from the request by the middleware
    assert found[1].data["session"] == login.data["session"]

    lines = audit_lines(caplog)
    assert len(lines) >= len(found) + 1
    assert all(json.loads(line)["kind"] for line in lines)
    secrets = [PASSWORD, NEW_PASSWORD, "wrong-horse-123"]
    for body in (tokens, renewed, second, third):
        secrets += [body["access_token"], body["refresh_token"]]
    assert_no_secret(await events(server), lines, secrets)


async def test_the_oauth_token_endpoint_is_audited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ostiary.audit")
    async with oauth_server(tmp_path) as server:
        web = await web_client(server)
        svc = await service_client(server)
        tokens = await code_flow_tokens(server, web)
        renewed = await refresh(server, web, tokens["refresh_token"])
        assert renewed.status_code == 200
        server.past_refresh_grace()
        assert (await refresh(server, web, tokens["refresh_token"])).status_code == 400
        issued = await server.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=basic(svc)
        )
        assert issued.status_code == 200
        refused = await server.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("svc", "nope")
        )
        assert refused.status_code == 401

        found = await events(server)
        oauth = [
            (e.kind, e.outcome, e.actor) for e in found if e.kind.startswith(("oauth", "refresh"))
        ]
        assert oauth == [
            ("oauth.authorization_code", "success", "web"),
            ("oauth.refresh_token", "success", "web"),
            ("refresh.reuse", "failure", "system"),
            ("oauth.client_credentials", "failure", "svc"),
        ]
        assert found[-1].data["reason"] == "invalid_client"
        code = next(e for e in found if e.kind == "oauth.authorization_code")
        assert code.data["tokens"] == "access,refresh,id"
        assert code.subject == (await server.services.accounts.get_by_username("alice")).id
        # client_credentials issuance: neither stored nor logged (the access log has it); only
        # its failure is an audit event.
        lines = audit_lines(caplog)
        issued_lines = [json.loads(line) for line in lines if "oauth.client_credentials" in line]
        assert [(e["outcome"], e["seq"]) for e in issued_lines] == [("failure", found[-1].seq)]
        body = issued.json()
        secrets = [
            body["access_token"],
            tokens["access_token"],
            tokens["refresh_token"],
            tokens["id_token"],
            renewed.json()["refresh_token"],
            *(s for s in (web.secret, svc.secret) if s),
        ]
        assert_no_secret(found, lines, secrets)


async def test_key_generation_is_audited_as_the_system(server: Server) -> None:
    found = await events(server, kind="key.generated")
    assert found
    assert all(e.actor == "system" and e.subject for e in found)
    await server.services.keys.rotate()
    rotated = await events(server, kind="key.rotated")
    assert [e.subject for e in rotated] == [server.services.keys.ring.active.kid]  # type: ignore[union-attr]


async def test_a_failing_audit_store_does_not_fail_the_login(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def unreachable(events: Sequence[AuditEvent]) -> list[AuditEvent]:
        raise StorageError("the database is unreachable")

    monkeypatch.setattr(server.services.storage.audit, "add_many", unreachable)
    tokens = await server.login()
    assert tokens["access_token"]
    await server.services.audit.drain()
    assert any("audit event(s) not stored" in r.getMessage() for r in caplog.records)


# --- GET /admin/audit --------------------------------------------------------------------


async def test_admin_audit_pages_with_filters_and_a_cursor(server: Server) -> None:
    await server.add_user("root", "admin")
    admin = await server.login("root")
    await server.login()
    await server.login()
    headers = bearer(admin["access_token"])
    first = await server.client.get(
        "/admin/audit", params={"kind": "login", "limit": 2}, headers=headers
    )
    assert first.status_code == 200
    page = first.json()
    assert [e["kind"] for e in page["events"]] == ["login", "login"]
    assert page["next"] == page["events"][-1]["seq"]
    rest = await server.client.get(
        "/admin/audit", params={"kind": "login", "since": page["next"]}, headers=headers
    )
    assert [e["kind"] for e in rest.json()["events"]] == ["login"]
    alice = (await server.services.accounts.get_by_username("alice")).id
    mine = await server.client.get("/admin/audit", params={"subject": alice}, headers=headers)
    assert {e["subject"] for e in mine.json()["events"]} == {alice}


async def test_admin_audit_is_401_for_a_token_of_someone_not_an_administrator(
    server: Server,
) -> None:
    """A first-party token of a user without the admin role is not for the admin API at all
    (no admin audience): RFC 6750 §3.1 ``invalid_token``."""
    user = await server.login()
    response = await server.client.get("/admin/audit", headers=bearer(user["access_token"]))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_admin_audit_is_401_without_a_token(server: Server) -> None:
    response = await server.client.get("/admin/audit")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_sql_storage_keeps_the_trail(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_url=f"sqlite:///{tmp_path / 'o.db'}")
    async with running(settings) as srv:
        await srv.add_user("alice")
        await srv.login()
        assert kinds(await events(srv, kind="login")) == [("login", "success")]
