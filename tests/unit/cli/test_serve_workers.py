"""``ostiary serve --workers``: what is refused before any process starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ostiary.cli.app import app
from ostiary.cli.serve import worker_count


@pytest.fixture(autouse=True)
def _dev_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OSTIARY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OSTIARY_DEV", "true")
    monkeypatch.setenv("OSTIARY_DEV_KEY_DIR", str(tmp_path / ".ostiary"))


def test_auto_is_one_worker_per_cpu_and_the_default_is_the_setting() -> None:
    cpus = getattr(os, "process_cpu_count", os.cpu_count)() or 1
    assert worker_count("auto", 1) == cpus
    assert worker_count(None, 3) == 3
    assert worker_count("2", 1) == 2


@pytest.mark.parametrize("value", ["0", "-1", "many", "1025"])
def test_a_count_that_is_no_count_is_refused(value: str) -> None:
    result = CliRunner().invoke(app, ["serve", "--workers", value])
    assert result.exit_code == 2
    assert "--workers" in result.output + result.stderr


def test_workers_cannot_share_a_database_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSTIARY_DATABASE_URL", "memory://")
    result = CliRunner().invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "database the workers share" in result.stderr
