"""``make run`` installs what serving needs and nothing more (the ``server`` extra, not the dev
toolchain of ``make test``), and that is enough for ``ostiary serve --demo``: its modules
import where only the server extra's distributions are installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ._installs import PYPROJECT, closure, import_with_only, requirements

MAKEFILE = PYPROJECT.with_name("Makefile")


def planned(target: str, tmp_path: Path, *variables: str) -> list[str]:
    """What ``make TARGET`` would run in a fresh clone (``make -n``: nothing runs)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    for source in (MAKEFILE, PYPROJECT):
        shutil.copy(source, tmp_path / source.name)
    # Not the make that may be running this suite: its flags would make this one print
    # "Entering directory" lines and take its options.
    environment = {
        k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    }
    done = subprocess.run(
        [make, "--no-print-directory", "-n", target, *variables],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.splitlines()


def installs(commands: list[str]) -> list[str]:
    """The pip installs among ``commands`` (of ostiary: not pip's own upgrade)."""
    return [
        c[c.index(".venv/bin/python -m pip") :]
        for c in commands
        if "pip install" in c and "--upgrade pip" not in c
    ]


def test_make_run_installs_the_server_extra_only(tmp_path: Path) -> None:
    commands = planned("run", tmp_path)
    assert installs(commands) == [".venv/bin/python -m pip install --quiet -e '.[server]'"]
    assert commands[-1] == ".venv/bin/ostiary serve --demo --host 127.0.0.1 --port 8000"


def test_make_run_takes_another_port(tmp_path: Path) -> None:
    assert planned("run", tmp_path, "PORT=8080")[-1].endswith("--port 8080")


@pytest.mark.parametrize("target", ["test", "lint", "bench"])
def test_the_other_targets_install_the_dev_toolchain(target: str, tmp_path: Path) -> None:
    assert installs(planned(target, tmp_path)) == [
        ".venv/bin/python -m pip install --quiet -e '.[dev]'"
    ]


@pytest.mark.parametrize("module", ["ostiary.cli", "ostiary.cli.serve", "ostiary.server.app"])
def test_the_server_extra_is_enough_to_serve(module: str, tmp_path: Path) -> None:
    done = import_with_only(module, closure(requirements("server")), tmp_path)
    assert done.returncode == 0, done.stderr
