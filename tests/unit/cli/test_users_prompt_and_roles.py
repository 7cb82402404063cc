"""``ostiary users``: the password prompt on a real terminal, a piped password without
``--password-stdin``, and role changes that would change nothing."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from typing import Final

from typer.testing import CliRunner

from ostiary.cli.app import app

PASSWORD: Final = "correct horse battery"
#: A bound on each wait for the child on the terminal, never a speed assertion.
WAIT: Final = 30.0
CREATE: Final = [sys.executable, "-m", "ostiary.cli", "users", "create"]


def on_a_terminal(args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run ``args`` with a pseudo-terminal as its controlling terminal, stdin and output; type
    each of ``answers`` when a prompt ends in ``: `` (the echo is off by then), then Ctrl-C.
    Its exit status and all its output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        os.execv(args[0], args)
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + WAIT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            # Click prints "Password:", then getpass turns the echo off and prints " ".
            if output.endswith(b": "):
                answer = pending.pop(0).encode() + b"\n" if pending else b"\x03"  # or Ctrl-C
                os.write(fd, answer)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_the_password_is_typed_twice_at_a_hidden_prompt(env: dict[str, str]) -> None:
    code, output = on_a_terminal([*CREATE, "bob"], [PASSWORD, PASSWORD])
    assert code == 0, output
    assert PASSWORD not in output  # not echoed
    assert "Warning" not in output
    assert '"username": "bob"' in output
    code, output = on_a_terminal([*CREATE, "carol"], [PASSWORD, "another one!!!!"])
    assert "do not match" in output
    assert code != 0, output


def test_a_piped_password_without_the_flag_is_refused_plainly(env: dict[str, str]) -> None:
    """Not getpass's GetPassWarning and an echoed prompt: a line saying what works."""
    done = subprocess.run(
        [*CREATE, "bob"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: Standard input is not a terminal: add --password-stdin to read the password "
        "from it.\n"
    )
    assert done.stdout == ""


def run(runner: CliRunner, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def role_events(runner: CliRunner) -> list[str]:
    code, out, _ = run(runner, "audit", "tail", "--limit", "1000")
    assert code == 0
    kinds = [json.loads(line)["kind"] for line in out.splitlines()]
    return [kind for kind in kinds if kind.startswith("user.role")]


def test_removing_a_role_not_held_fails_and_records_nothing(
    runner: CliRunner, env: dict[str, str]
) -> None:
    code, _, stderr = run(runner, "users", "create", "bob", "--password-stdin", stdin=PASSWORD)
    assert code == 0, stderr
    code, out, stderr = run(runner, "users", "remove-role", "bob", "admin")
    assert (code, out) == (1, "")
    assert stderr == "error: User bob does not have the role admin.\n"
    assert role_events(runner) == []


def test_adding_a_role_held_changes_and_records_nothing(
    runner: CliRunner, env: dict[str, str]
) -> None:
    code, _, stderr = run(runner, "users", "create", "bob", "--password-stdin", stdin=PASSWORD)
    assert code == 0, stderr
    code, out, stderr = run(runner, "users", "add-role", "bob", "user")
    assert code == 0, stderr
    assert json.loads(out)["roles"] == ["user"]
    assert stderr == "User bob has the role user already; nothing changed.\n"
    assert role_events(runner) == []
    assert run(runner, "users", "remove-role", "bob", "user")[0] == 0
    assert role_events(runner) == ["user.role_remove"]
