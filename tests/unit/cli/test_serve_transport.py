"""``ostiary serve`` transport options: TLS, trusted proxies, and the plain-HTTP warning."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ostiary.cli.app import app
from ostiary.settings import Settings


@pytest.fixture(autouse=True)
def _dev_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OSTIARY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OSTIARY_DATABASE_URL", "memory://")
    monkeypatch.setenv("OSTIARY_DEV", "true")
    monkeypatch.setenv("OSTIARY_DEV_KEY_DIR", str(tmp_path / ".ostiary"))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ``run_uvicorn`` (``uvicorn.run``) was given, and the settings the app was built with.
    Nothing listens, so the check that the port can be bound is skipped too: these addresses
    (``192.0.2.10``...) are not this machine's."""
    seen: list[dict[str, Any]] = []

    def fake_create_app(settings: Settings, **_options: object) -> Settings:
        return settings

    def fake_run(app: Settings, **kwargs: Any) -> None:
        seen.append({"settings": app, **kwargs})

    monkeypatch.setattr("ostiary.server.create_app", fake_create_app)
    monkeypatch.setattr("ostiary.cli.serve.run_uvicorn", fake_run)
    monkeypatch.setattr("ostiary.cli.serve.check_port_free", lambda host, port: None)
    return seen


@pytest.fixture
def cert_files(runner: CliRunner, tmp_path: Path) -> tuple[str, str]:
    result = runner.invoke(app, ["dev-cert", "--out", str(tmp_path / "tls")])
    assert result.exit_code == 0, result.stderr
    return str(tmp_path / "tls" / "dev-cert.pem"), str(tmp_path / "tls" / "dev-key.pem")


def test_forwarded_headers_are_trusted_from_no_one_by_default(
    runner: CliRunner, calls: list[dict[str, Any]]
) -> None:
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.stderr
    (call,) = calls
    assert call["proxy_headers"] is False
    assert call["forwarded_allow_ips"] is None
    assert call["server_header"] is False
    assert (call["ssl_certfile"], call["ssl_keyfile"]) == (None, None)
    assert call["settings"].issuer == "http://127.0.0.1:8000"


def test_forwarded_allow_ips_turns_proxy_headers_on_for_those_addresses(
    runner: CliRunner, calls: list[dict[str, Any]]
) -> None:
    result = runner.invoke(app, ["serve", "--forwarded-allow-ips", "10.0.0.5,10.0.0.6"])
    assert result.exit_code == 0, result.stderr
    (call,) = calls
    assert (call["proxy_headers"], call["forwarded_allow_ips"]) == (True, "10.0.0.5,10.0.0.6")


def test_tls_serves_https_with_an_https_issuer(
    runner: CliRunner, calls: list[dict[str, Any]], cert_files: tuple[str, str]
) -> None:
    cert, key = cert_files
    result = runner.invoke(
        app, ["serve", "--host", "0.0.0.0", "--port", "8443", "--tls-cert", cert, "--tls-key", key]
    )
    assert result.exit_code == 0, result.stderr
    (call,) = calls
    assert (str(call["ssl_certfile"]), str(call["ssl_keyfile"])) == (cert, key)
    assert call["settings"].issuer == "https://127.0.0.1:8443"
    assert "warning" not in result.stderr


@pytest.mark.parametrize("flag", ["--tls-cert", "--tls-key"])
def test_a_certificate_without_its_key_is_refused(
    runner: CliRunner,
    calls: list[dict[str, Any]],
    cert_files: tuple[str, str],
    flag: str,
) -> None:
    result = runner.invoke(app, ["serve", flag, cert_files[0]])
    assert result.exit_code == 2
    assert "--tls-cert and --tls-key go together" in result.stderr
    assert calls == []


def test_a_missing_certificate_file_is_refused(
    runner: CliRunner, calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nope.pem")
    result = runner.invoke(app, ["serve", "--tls-cert", missing, "--tls-key", missing])
    assert result.exit_code == 2
    assert calls == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "auth.internal"])
def test_plain_http_beyond_this_machine_is_warned_about(
    runner: CliRunner, calls: list[dict[str, Any]], host: str
) -> None:
    result = runner.invoke(app, ["serve", "--host", host])
    assert result.exit_code == 0, result.stderr
    assert f"warning: Serving plain HTTP on {host}:8000" in result.stderr
    assert "--tls-cert" in result.stderr
    assert len(calls) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_plain_http_on_loopback_is_not_warned_about(
    runner: CliRunner, calls: list[dict[str, Any]], host: str
) -> None:
    result = runner.invoke(app, ["serve", "--host", host])
    assert result.exit_code == 0, result.stderr
    assert "plain HTTP" not in result.stderr
