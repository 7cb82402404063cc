"""``ostiary audit tail``, and the events the users and clients commands record as the
``operator``, on a real SQLite file."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from ostiary.cli.app import app

PASSWORD = "operator-typed-secret-123"


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


def test_tail_filters_and_pages(runner: CliRunner, env: dict[str, str]) -> None:
    for name in ("a", "b", "c"):
        run(runner, "users", "create", name, "--password-stdin", stdin=PASSWORD + "\n")
    first = tail(runner, "--kind", "user.create", "--limit", "2")
    assert len(first) == 2
    rest = tail(runner, "--kind", "user.create", "--since", str(first[-1]["seq"]))
    assert len(rest) == 1
    assert tail(runner, "--subject", rest[0]["subject"]) == rest
    assert tail(runner, "--kind", "nothing") == []


def test_keys_rotate_is_recorded(runner: CliRunner, env: dict[str, str]) -> None:
    run(runner, "keys", "rotate")
    kinds = {(e["kind"], e["actor"]) for e in tail(runner, "--limit", "50")}
    assert ("key.rotated", "operator") in kinds or ("key.generated", "operator") in kinds
