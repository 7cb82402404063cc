"""``ostiary serve --tls-cert --tls-key`` with the certificate ``ostiary dev-cert`` made: the
real server answers over HTTPS, verified against that certificate, with HSTS and no banner."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from ostiary.server.headers import HSTS

from ._live import LiveServer, clean_environment, live_server, server_command

pytestmark = pytest.mark.slow

DEV_CERT_TIMEOUT: Final = 30.0


def dev_cert(out: Path) -> tuple[Path, Path]:
    """Run ``ostiary dev-cert --out out`` as a user would; the certificate and key it wrote."""
    done = subprocess.run(
        [*server_command(verbose=False), "dev-cert", "--out", str(out)],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=DEV_CERT_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cert, key = out / "dev-cert.pem", out / "dev-key.pem"
    assert f"--tls-cert {cert} --tls-key {key}" in done.stdout
    return cert, key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live-tls")
    with live_server(workdir, tls=dev_cert(workdir / "tls")) as live:
        yield live


def test_https_answers_verified_against_the_dev_certificate(server: LiveServer) -> None:
    assert server.base_url.startswith("https://127.0.0.1:")
    with server.client() as client:
        health = client.get("/healthz")
        discovery = client.get("/.well-known/openid-configuration")
        refused = client.post("/auth/login", json={"username": "alice", "password": "wrong"})
    assert health.status_code == 200
    assert discovery.json()["issuer"] == server.base_url
    for response in (health, discovery, refused):
        assert response.headers["strict-transport-security"] == HSTS
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "server" not in response.headers
    assert refused.headers["cache-control"] == "no-store"


def test_a_client_that_does_not_trust_the_certificate_is_refused(server: LiveServer) -> None:
    with (
        httpx.Client(base_url=server.base_url, timeout=5.0) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get("/healthz")


def test_plain_http_on_the_https_port_gets_no_answer(server: LiveServer) -> None:
    with (
        httpx.Client(timeout=5.0) as client,
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)),
    ):
        client.get(f"http://127.0.0.1:{server.port}/healthz")


def test_no_plain_http_warning_for_tls_on_loopback(server: LiveServer) -> None:
    assert "plain HTTP" not in server.logs()
