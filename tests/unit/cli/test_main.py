"""The ``ostiary`` entry point: a clear message without the server extra; the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ostiary.cli import MISSING_TYPER, main
from ostiary.cli.app import app


def test_without_typer_main_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "typer", None)  # makes ``import typer`` fail
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == MISSING_TYPER + "\n"
    assert "pip install 'ostiary[server]'" in captured.err
    assert captured.out == ""


def test_main_runs_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["ostiary", "--help"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0


def test_help_lists_the_command_groups(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "keys" in result.stdout
    assert "token" in result.stdout


def test_no_arguments_shows_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "Usage" in result.output


def test_installed_console_script() -> None:
    script = Path(sys.executable).parent / "ostiary"
    if not script.exists():
        pytest.skip(f"no console script at {script}: install the project (pip install -e .)")
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "keys" in done.stdout
    assert "token" in done.stdout
