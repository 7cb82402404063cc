"""``ostiary audit tail``, and the events the users and clients commands record as the
``operator``, on a real SQLite file."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any, Final

import pytest
from typer.testing import CliRunner

from ostiary.cli.app import app
from ostiary.cli.audit import FOLLOW_INTERVAL_SECONDS

PASSWORD = "operator-typed-secret-123"
#: A bound on each wait for the following process: generous, never a speed assertion.
WAIT: Final = 30.0


def run(runner: CliRunner, *args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def tail(runner: CliRunner, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run(runner, "audit", "tail", *args).splitlines()]


def test_commands_are_recorded_as_the_operator(runner: CliRunner, env: dict[str, str]) -> None:
    user = json.loads(
        run(runner, "users", "create", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    )
    run(runner, "users", "add-role", "bob", "admin")
    run(runner, "users", "remove-role", "bob", "admin")
    run(runner, "users", "disable", "bob")
    run(runner, "users", "enable", "bob")
    run(runner, "users", "set-password", "bob", "--password-stdin", stdin=PASSWORD + "x\n")
    created = json.loads(
        run(
            runner,
            "clients",
            "create",
            "Svc",
            "--id",
            "svc",
            "--auth-method",
            "client_secret_basic",
        )
    )
    client_id = created["id"]
    rotated = run(runner, "clients", "rotate-secret", client_id)
    run(runner, "clients", "delete", client_id)

    events = tail(runner, "--actor", "operator")
    assert [(e["kind"], e["subject"]) for e in events] == [
        ("user.create", user["id"]),
        ("user.role_add", user["id"]),
        ("user.role_remove", user["id"]),
        ("user.disable", user["id"]),
        ("user.enable", user["id"]),
        ("user.password", user["id"]),
        ("client.create", client_id),
        ("client.rotate_secret", client_id),
        ("client.delete", client_id),
    ]
    assert events[1]["data"] == {"role": "admin"}
    everything = run(runner, "audit", "tail", "--limit", "1000")
    secrets = [PASSWORD, created["client_secret"], json.loads(rotated)["client_secret"]]
    assert not [secret for secret in secrets if secret in everything]


def create_users(runner: CliRunner, *names: str) -> list[str]:
    """Create the users; their ids, in order."""
    return [
        json.loads(run(runner, "users", "create", n, "--password-stdin", stdin=PASSWORD + "\n"))[
            "id"
        ]
        for n in names
    ]


def test_tail_filters(runner: CliRunner, env: dict[str, str]) -> None:
    _, b, _ = create_users(runner, "a", "b", "c")
    run(runner, "users", "add-role", "b", "admin")
    assert [e["kind"] for e in tail(runner, "--subject", b)] == ["user.create", "user.role_add"]
    assert [e["subject"] for e in tail(runner, "--kind", "user.role_add")] == [b]
    assert len(tail(runner, "--actor", "operator")) == 4
    assert tail(runner, "--kind", "nothing") == []


def test_tail_shows_the_last_events_oldest_first(runner: CliRunner, env: dict[str, str]) -> None:
    """Like ``tail -n``: a long trail never hides its recent events."""
    ids = create_users(runner, "a", "b", "c", "d")
    assert [e["subject"] for e in tail(runner, "--limit", "2")] == ids[2:]
    assert [e["subject"] for e in tail(runner, "--kind", "user.create", "--limit", "3")] == ids[1:]
    assert tail(runner, "--limit", "0") == []


def test_tail_since_pages_forward_from_a_seq(runner: CliRunner, env: dict[str, str]) -> None:
    """``--since`` resumes where an earlier run stopped: the first events after it."""
    ids = create_users(runner, "a", "b", "c", "d")
    first = tail(runner, "--since", "0", "--limit", "2")
    assert [e["subject"] for e in first] == ids[:2]
    rest = tail(runner, "--since", str(first[-1]["seq"]), "--limit", "1")
    assert [e["subject"] for e in rest] == ids[2:3]


def test_tail_follow_prints_the_last_events_then_new_ones(
    runner: CliRunner, env: dict[str, str]
) -> None:
    ids = create_users(runner, "a", "b", "c")
    with following("--limit", "1") as (events, notices):
        assert json.loads(events.get(timeout=WAIT))["subject"] == ids[-1]
        notices.get(timeout=WAIT)
        (new,) = create_users(runner, "d")
        assert json.loads(events.get(timeout=WAIT))["subject"] == new
        with pytest.raises(queue.Empty):  # and nothing else
            events.get(timeout=2 * FOLLOW_INTERVAL_SECONDS)


def test_tail_follow_with_limit_zero_prints_only_new_events(
    runner: CliRunner, env: dict[str, str]
) -> None:
    create_users(runner, "a")
    with following("--limit", "0", "--kind", "user.create") as (events, notices):
        assert notices.get(timeout=WAIT) == "Following new events; Ctrl-C to stop."
        (new,) = create_users(runner, "b")
        assert json.loads(events.get(timeout=WAIT))["subject"] == new


Lines = queue.Queue[str]


@contextlib.contextmanager
def following(*options: str) -> Iterator[tuple[Lines, Lines]]:
    """Run ``ostiary audit tail --follow`` with ``options``; yield queues of its stdout and
    stderr lines; stop it with Ctrl-C (SIGINT) when left, which must exit 0."""
    command = [sys.executable, "-m", "ostiary.cli", "audit", "tail", "--follow", *options]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        queues: tuple[Lines, Lines] = (queue.Queue(), queue.Queue())
        readers = [
            threading.Thread(target=pump, args=(stream, lines))
            for stream, lines in zip((process.stdout, process.stderr), queues, strict=True)
        ]
        for reader in readers:
            reader.start()
        try:
            yield queues
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=WAIT)
            finally:
                process.kill()  # a no-op once it has exited
                for reader in readers:
                    reader.join()
        assert process.returncode == 0


def pump(stream: IO[str], lines: Lines) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def test_keys_rotate_is_recorded(runner: CliRunner, env: dict[str, str]) -> None:
    run(runner, "keys", "rotate")
    kinds = {(e["kind"], e["actor"]) for e in tail(runner, "--limit", "50")}
    assert ("key.rotated", "operator") in kinds or ("key.generated", "operator") in kinds
