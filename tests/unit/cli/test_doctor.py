"""``ostiary doctor`` against a migrated SQLite file and a throwaway PostgreSQL database:
exit codes, the line per check, ``--json``, and no secret in the output."""

from __future__ import annotations

import asyncio
import json
import operator
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from ostiary.cli.app import app
from ostiary.keys import MasterKey
from ostiary.keys.service import KeyService
from ostiary.storage import open_storage
from ostiary.storage.sql import upgrade_async

from ..._postgres import PostgresUnavailable, in_thread, postgres_database

MASTER = MasterKey.new_text()
DB_PASSWORD = "doctor-db-pa55word"


async def seed_keys(url: str, *algs: str) -> None:
    """Migrate ``url`` and give it an active key of each of ``algs``, as a first start would."""
    await upgrade_async(url)
    storage = await open_storage(url)
    try:
        for alg in algs:
            service = KeyService(
                storage.keys,
                storage.leases,
                MasterKey.from_text(MASTER),
                alg=alg,
                retire_after=1000,
                rsa_bits=2048,
                lease_name=f"lease-{alg}",
                owns=partial(operator.eq, alg),
            )
            await service.ensure_signing_key()
    finally:
        await storage.close()


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a production deployment; the database URL is the test's to set."""
    for name in list(os.environ):
        if name.upper().startswith("OSTIARY_"):
            monkeypatch.delenv(name)
    values = {
        "OSTIARY_ISSUER": "https://auth.example.com",
        "OSTIARY_MASTER_KEY": MASTER,
        "OSTIARY_REGISTRATION_ENABLED": "false",
        "OSTIARY_RSA_KEY_BITS": "2048",
        "OSTIARY_AUTO_MIGRATE": "false",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, production: None) -> str:
    url = f"sqlite:///{tmp_path / 'ostiary.db'}"
    asyncio.run(seed_keys(url, "ES256", "RS256"))
    monkeypatch.setenv("OSTIARY_DATABASE_URL", url)
    return url


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database with keys, its URL carrying a password (the local test
    server trusts the connection, so any password is accepted)."""
    try:
        with postgres_database("ostiary_doctor") as url:
            in_thread(lambda: asyncio.run(seed_keys(url, "ES256", "RS256")))
            yield make_url(url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def lines(output: str) -> dict[str, str]:
    """Check name → its line, from the text output."""
    found = {}
    for line in output.splitlines():
        status, _, rest = line.partition("  ")
        if status in ("PASS", "WARN", "FAIL"):
            found[rest.split(":")[0]] = status
    return found


def assert_no_secret(output: str) -> None:
    assert MASTER not in output
    assert DB_PASSWORD not in output


@pytest.mark.usefixtures("sqlite_url")
def test_a_sound_sqlite_deployment_passes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    statuses = lines(result.stdout)
    assert statuses["issuer"] == "PASS"
    assert statuses["database"] == "PASS"
    assert statuses["stored keys"] == "PASS"
    assert statuses["active keys"] == "PASS"
    assert "FAIL" not in statuses.values()
    assert result.stdout.splitlines()[-1].endswith("0 failed")
    assert_no_secret(result.output)


@pytest.mark.usefixtures("sqlite_url")
def test_json_output(runner: CliRunner) -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert {"name", "status", "found", "fix"} == set(document["checks"][0])
    assert_no_secret(result.output)


@pytest.mark.usefixtures("sqlite_url")
def test_a_failed_check_exits_1(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSTIARY_ISSUER", "http://auth.example.com")
    monkeypatch.setenv("OSTIARY_ACCESS_TOKEN_TTL", "7200")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    statuses = lines(result.stdout)
    assert statuses["issuer"] == "FAIL"
    assert statuses["access token lifetime"] == "FAIL"
    assert "-- fix: set OSTIARY_ISSUER" in result.stdout
    assert_no_secret(result.output)


@pytest.mark.usefixtures("sqlite_url")
def test_keys_under_another_master_key_fail(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = MasterKey.new_text()
    monkeypatch.setenv("OSTIARY_MASTER_KEY", other)
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["stored keys"]["status"] == "FAIL"
    assert other not in result.output


def test_no_master_key_in_production_fails(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, production: None, tmp_path: Path
) -> None:
    monkeypatch.delenv("OSTIARY_MASTER_KEY")
    monkeypatch.setenv("OSTIARY_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert lines(result.stdout)["master key"] == "FAIL"
    assert lines(result.stdout)["database"] == "FAIL"  # absent, and auto-migrate off
    assert not (tmp_path / "none.db").exists()


def test_an_unreachable_database_fails_without_its_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, production: None
) -> None:
    url = f"postgresql://ostiary:{DB_PASSWORD}@127.0.0.1:1/ostiary"
    monkeypatch.setenv("OSTIARY_DATABASE_URL", url)
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert lines(result.stdout)["database"] == "FAIL"
    assert "***@127.0.0.1:1" in result.stdout
    assert_no_secret(result.output)


def test_postgresql_deployment(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, production: None, postgres_url: str
) -> None:
    monkeypatch.setenv("OSTIARY_DATABASE_URL", postgres_url)
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["database"]["status"] == "PASS"
    assert "postgresql" in checks["database"]["found"]
    assert checks["clock"]["status"] == "PASS"
    assert "database server's clock" in checks["clock"]["found"]
    assert checks["stored keys"]["status"] == "PASS"
    assert_no_secret(result.output)
