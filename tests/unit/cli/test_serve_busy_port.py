"""``ostiary serve`` on a port another process holds: one clear line and a failing exit, before
anything else is done or printed (the demo's walkthrough would be a lie: no server answers
it), with one process or several workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def serve(workdir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``ostiary serve --demo`` in ``workdir``, as ``make run`` starts it."""
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("OSTIARY_")}
    environment |= {"OSTIARY_ARGON2_MEMORY_KIB": "256", "OSTIARY_ARGON2_TIME_COST": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ostiary.cli", "serve", "--demo", *arguments],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard: the refusal comes before any start-up work
        check=False,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_busy_port_is_refused_before_the_walkthrough(
    tmp_path: Path, busy_port: int, workers: str
) -> None:
    done = serve(tmp_path, "--port", str(busy_port), "--workers", workers)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Demo users" not in done.stdout
    assert "Try it from another shell" not in done.stdout
    (line,) = [line for line in done.stderr.splitlines() if str(busy_port) in line]
    assert f"127.0.0.1:{busy_port}" in line
    assert "address already in use" in line
    assert "--port" in line
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "ostiary.db").exists()  # nothing was set up for nothing
