"""Demo mode: seeded users with passwords printed once, the demo API protected through
``ostiary.resource``, and the walkthrough printed with the real URL."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.server.walkthrough import walkthrough

from ._expect import NO_CREDENTIALS_CHALLENGE
from ._server import REVOKED, Server, bearer, oauth, running, settings_for

ADMIN_ONLY = oauth("insufficient_scope", "The token does not carry a role this resource requires.")
NEEDS_REPORTS = {
    **oauth("insufficient_scope", "The token does not grant the scope this resource requires."),
    "scope": "reports:read",
}
GIVEN = {"demo_alice_password": "alice-demo-password", "demo_admin_password": "admin-demo-pass"}


def demo_settings(tmp_path: Path, **overrides: object) -> dict[str, object]:
    return {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "demo": True,
        **overrides,
    }


def printed_password(output: str, username: str) -> str | None:
    match = re.search(rf"^  {username} +role \w+ +password (\S+)   \(shown", output, re.M)
    return match.group(1) if match else None


async def test_first_start_prints_random_passwords_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path, **demo_settings(tmp_path))
    async with running(settings) as srv:
        first = capsys.readouterr().out
        alice, admin = printed_password(first, "alice"), printed_password(first, "admin")
        assert alice is not None and admin is not None and alice != admin
        assert len(alice) >= 16
        assert f"export ALICE_PASSWORD='{alice}'" in first
        await srv.login("alice", alice)
        await srv.login("admin", admin)
    async with running(settings) as srv:
        second = capsys.readouterr().out
        assert alice not in second and admin not in second
        assert "exists already" in second
        assert "Try it from another shell" in second
        await srv.login("alice", alice)  # the data was reused


async def test_passwords_can_come_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path, **demo_settings(tmp_path, **GIVEN))
    async with running(settings) as srv:
        output = capsys.readouterr().out
        assert "alice-demo-password" not in output
        assert "password from OSTIARY_DEMO_ALICE_PASSWORD" in output
        assert 'export ALICE_PASSWORD="$OSTIARY_DEMO_ALICE_PASSWORD"' in output
        await srv.login("alice", "alice-demo-password")
        await srv.login("admin", "admin-demo-pass")
    async with running(settings):  # a second start: the walkthrough still reads the variable
        again = capsys.readouterr().out
        assert "alice-demo-password" not in again
        assert 'export ALICE_PASSWORD="$OSTIARY_DEMO_ALICE_PASSWORD"' in again


async def test_the_walkthrough_is_printed_with_the_issuer_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(
        tmp_path, **demo_settings(tmp_path, issuer="http://127.0.0.1:9123", **GIVEN)
    )
    async with running(settings):
        output = capsys.readouterr().out
    assert "curl -s http://127.0.0.1:9123/auth/login" in output
    assert "http://127.0.0.1:8000" not in output


def test_the_walkthrough_covers_the_whole_flow() -> None:
    text = walkthrough("http://localhost:8000/", password_line="export ALICE_PASSWORD=x")
    steps = [
        "/auth/login",
        "/api/profile",
        "/auth/refresh",
        "reuse detected",
        "/auth/logout",
        "refused at once",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "http://localhost:8000/auth" in text and "8000//" not in text


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Server]:
    settings = settings_for(tmp_path, demo=True, **GIVEN)
    async with running(settings) as srv:
        yield srv


async def login_as(srv: Server, username: str) -> str:
    password = GIVEN[f"demo_{username}_password"]
    token: str = (await srv.login(username, password))["access_token"]
    return token


async def test_profile_takes_any_valid_token(demo: Server) -> None:
    response = await demo.client.get("/api/profile", headers=bearer(await login_as(demo, "alice")))
    assert response.status_code == 200
    body = response.json()
    assert (body["roles"], body["scope"], body["client_id"]) == (["user"], "profile", "ostiary")


async def test_the_demo_api_needs_a_token(demo: Server) -> None:
    response = await demo.client.get("/api/profile")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == NO_CREDENTIALS_CHALLENGE  # Bearer and DPoP


@pytest.mark.parametrize(
    ("path", "refusal"), [("/api/admin/stats", ADMIN_ONLY), ("/api/reports", NEEDS_REPORTS)]
)
async def test_admin_routes_refuse_alice_and_serve_admin(
    demo: Server, path: str, refusal: dict[str, str]
) -> None:
    refused = await demo.client.get(path, headers=bearer(await login_as(demo, "alice")))
    assert (refused.status_code, refused.json()) == (403, refusal)
    served = await demo.client.get(path, headers=bearer(await login_as(demo, "admin")))
    assert served.status_code == 200


async def test_the_demo_api_refuses_a_token_at_once_after_logout(demo: Server) -> None:
    token = await login_as(demo, "alice")
    assert (await demo.client.get("/api/profile", headers=bearer(token))).status_code == 200
    await demo.client.post("/auth/logout", headers=bearer(token))
    refused = await demo.client.get("/api/profile", headers=bearer(token))
    assert (refused.status_code, refused.json()) == (401, REVOKED)


async def test_the_demo_api_is_absent_without_demo_mode(server: Server) -> None:
    assert (await server.client.get("/api/profile")).status_code == 404


async def test_demo_clients_of_an_older_database_get_the_demo_apis_audience(
    tmp_path: Path,
) -> None:
    """A demo database made when the demo clients were registered for the server's own
    audience ('ostiary'): the next start registers them for OSTIARY_AUDIENCE, so that the
    README's service-account step works on it."""
    secret = "s" * 40
    settings = settings_for(tmp_path, **demo_settings(tmp_path, demo_service_secret=secret))
    async with running(settings) as srv:
        stored = await srv.services.storage.clients.get("demo-service")
        assert stored is not None
        old = dataclasses.replace(stored, audiences=frozenset({"ostiary"}))
        await srv.services.storage.clients.update(old)
    async with running(settings) as srv:
        for client_id in ("demo-service", "demo-web"):
            client = await srv.services.storage.clients.get(client_id)
            assert client is not None and client.audiences == {settings.audience}
        issued = await srv.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("demo-service", secret)
        )
        reports = await srv.client.get(
            "/api/reports", headers=bearer(issued.json()["access_token"])
        )
        assert reports.status_code == 200, reports.text
