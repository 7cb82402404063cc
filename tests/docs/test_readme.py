"""The README's snippets do what the README says of them, not only run: the toolkit snippet
serves ``/healthz`` and ``/docs`` to anyone and ``/reports`` to a token with its scope; the
service account's Python gets the demo API's reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.http._expect import NO_CREDENTIALS_CHALLENGE
from tests.http._live import LiveServer, claims_of, live_server, login

from ._markdown import ROOT, Block, blocks_of
from ._run import on_server, run

pytestmark = pytest.mark.slow

README = ROOT / "README.md"


def readme_block(containing: str) -> Block:
    (block,) = [b for b in blocks_of(README) if b.language == "python" and containing in b.code]
    return block


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("readme")) as server:
        yield server


def token_of(server: LiveServer, username: str) -> str:
    with server.client() as client:
        answer = login(client, username, server.password(username))
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def the_service(server: LiveServer) -> FastAPI:
    """The toolkit snippet, run in a namespace of its own, for this server."""
    namespace: dict[str, Any] = {"__name__": "service"}
    code = on_server(readme_block("install(app, verifier").code, server)
    exec(compile(code, str(README), "exec"), namespace)
    app = namespace["app"]
    assert isinstance(app, FastAPI)
    return app


async def test_the_toolkit_snippet_serves_what_the_readme_says(demo: LiveServer) -> None:
    transport = httpx.ASGITransport(app=the_service(demo))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as service:
        assert (await service.get("/healthz")).json() == {"status": "ok"}
        assert (await service.get("/docs")).status_code == 200
        assert (await service.get("/openapi.json")).json()["paths"].keys() >= {"/reports"}

        anonymous = await service.get("/reports")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == NO_CREDENTIALS_CHALLENGE  # and DPoP

        alice = await service.get("/reports", headers=bearer(token_of(demo, "alice")))
        assert alice.status_code == 403
        assert 'error="insufficient_scope"' in alice.headers["www-authenticate"]

        admin_token = token_of(demo, "admin")
        admin = await service.get("/reports", headers=bearer(admin_token))
        assert admin.status_code == 200, admin.text
        assert admin.json() == {"user": claims_of(admin_token)["sub"]}


def test_the_service_account_snippet_reads_the_reports(demo: LiveServer, tmp_path: Path) -> None:
    block = readme_block("ClientCredentialsAuth(")
    ran = run(block, block.code, demo, tmp_path)
    assert ran.returncode == 0, ran.explain(block, block.code)
    status, body = ran.stdout.strip().split(" ", 1)
    assert status == "200", ran.stdout
    assert body.startswith("{'reports': [")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
