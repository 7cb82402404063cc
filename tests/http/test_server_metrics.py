"""``GET /metrics``: off by default; Bearer-protected or loopback-only; what it counts."""

from __future__ import annotations

from pathlib import Path

import httpx

from ostiary.server.metrics import Metrics

from ._oauth import basic, oauth_server, service_client
from ._server import PASSWORD, Server, bearer, running, settings_for

TOKEN = "metrics-token-0123456789"


def value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_are_off_by_default(server: Server) -> None:
    assert (await server.client.get("/metrics")).status_code == 404


async def test_metrics_count_tokens_failures_and_latency(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, metrics_enabled=True, metrics_token=TOKEN)
    async with running(settings) as srv:
        await srv.add_user("alice")
        tokens = await srv.login()
        await srv.refresh(tokens["refresh_token"])
        bad = {"username": "alice", "password": "nope-nope-nope"}
        assert (await srv.client.post("/auth/login", json=bad)).status_code == 401
        assert (await srv.client.get("/auth/me", headers=bearer("x.y.z"))).status_code == 401
        assert (await srv.client.get("/auth/me")).status_code == 401
        assert (await srv.client.get(f"/auth/sessions/{'s' * 5}")).status_code == 405
        response = await srv.client.get("/metrics", headers=bearer(TOKEN))
        assert response.status_code == 200
        text = response.text
        assert value(text, 'ostiary_tokens_issued_total{grant="password",kind="access"}') == 1
        assert value(text, 'ostiary_tokens_issued_total{grant="refresh_token",kind="refresh"}') == 1
        assert value(text, "ostiary_login_failures_total") == 1
        assert value(text, 'ostiary_token_verification_failures_total{reason="missing"}') == 1
        assert value(text, 'ostiary_token_verification_failures_total{reason="malformed"}') == 1
        series = (
            'ostiary_request_duration_seconds_count{method="POST",route="/auth/login",status="2xx"}'
        )
        assert value(text, series) == 1
        assert PASSWORD not in text and tokens["access_token"] not in text


async def test_client_credentials_are_counted(tmp_path: Path) -> None:
    async with oauth_server(tmp_path) as srv:
        metrics = Metrics()
        srv.services.audit.listeners.append(metrics.observe)
        svc = await service_client(srv)
        data = {"grant_type": "client_credentials"}
        assert (
            await srv.client.post("/oauth/token", data=data, auth=basic(svc))
        ).status_code == 200
        text = metrics.exposition().decode()
        series = 'ostiary_tokens_issued_total{grant="client_credentials",kind="access"}'
        assert value(text, series) == 1


async def test_metrics_want_the_bearer_token(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, metrics_enabled=True, metrics_token=TOKEN)
    async with running(settings) as srv:
        assert (await srv.client.get("/metrics")).status_code == 401
        wrong = await srv.client.get("/metrics", headers=bearer(TOKEN + "x"))
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Bearer")


async def test_without_a_token_metrics_are_for_loopback_clients_only(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, metrics_enabled=True)
    async with running(settings) as srv:
        assert (await srv.client.get("/metrics")).status_code == 403  # from 203.0.113.7
        transport = httpx.ASGITransport(app=srv.app, client=("127.0.0.1", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as local:
            assert (await local.get("/metrics")).status_code == 200
