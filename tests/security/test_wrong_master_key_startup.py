"""A server started with the wrong ``OSTIARY_MASTER_KEY`` over an existing database (a key
rotated in one place and not the other, the staging key in production) cannot open its
signing keys. It must refuse to start as every other configuration error does: one clear
line on stderr and exit status 2, not uvicorn's "Application startup failed" traceback and
exit 3, which buries the cause and reads like a crash to a service manager (that may restart
it in a loop).

The real command line, as a subprocess, over a SQLite database whose keys were made by
``ostiary keys rotate`` under another master key.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Final

import pytest

from ostiary.keys.encryption import MasterKey
from tests.http._live import (
    clean_environment,
    free_port,
    live_server,
    server_command,
    sqlite_url,
)

pytestmark = pytest.mark.slow

#: Generous bounds for a command that should end at once; never asserted as a duration.
COMMAND_TIMEOUT: Final = 60.0


def run_cli(workdir: Path, master_key: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **clean_environment(),
        "OSTIARY_DATABASE_URL": sqlite_url(workdir),
        "OSTIARY_MASTER_KEY": master_key,
        "OSTIARY_ISSUER": "https://auth.example.com",
    }
    return subprocess.run(
        [*server_command(verbose=False), *args],
        cwd=workdir,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


@pytest.fixture
def database(tmp_path: Path) -> tuple[Path, str]:
    """A migrated database with signing keys sealed under a master key of its own, and that
    key."""
    master = MasterKey.new_text()
    made = run_cli(tmp_path, master, "keys", "rotate")
    assert made.returncode == 0, made.stderr
    return tmp_path, master


def test_serve_with_the_wrong_master_key_says_so_in_one_line(database: tuple[Path, str]) -> None:
    workdir, _ = database
    port = str(free_port())
    result = run_cli(workdir, MasterKey.new_text(), "serve", "--host", "127.0.0.1", "--port", port)
    stderr_lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "startup failed" not in result.stderr
    assert len(stderr_lines) == 1, result.stderr
    line = stderr_lines[0]
    assert line.startswith("error: OSTIARY_MASTER_KEY")
    assert "wrong master key" in line


def test_the_right_master_key_starts(database: tuple[Path, str]) -> None:
    """The control case: the same database and its own master key serve."""
    workdir, master = database
    env = {"OSTIARY_MASTER_KEY": master}
    with live_server(workdir / "run", database_url=sqlite_url(workdir), env=env) as server:
        with server.client() as client:
            assert client.get("/readyz").status_code == 200
