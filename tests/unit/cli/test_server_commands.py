"""``ostiary serve``, ``db upgrade``, ``users ...`` and ``keys list|rotate|master-key``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from ostiary.cli.app import app
from ostiary.keys import MasterKey
from ostiary.settings import Settings
from ostiary.storage import open_storage

PASSWORD = "correct horse battery"


def run(runner: CliRunner, *args: str, stdin: str | None = None) -> tuple[int, Any, str]:
    """Exit code, the JSON printed (None if none) and stderr."""
    result = runner.invoke(app, list(args), input=stdin)
    try:
        output = json.loads(result.stdout) if result.stdout.strip() else None
    except ValueError:
        output = result.stdout
    return result.exit_code, output, result.stderr


def create(runner: CliRunner, username: str = "alice", *roles: str) -> dict[str, Any]:
    flags = [item for role in roles for item in ("--role", role)]
    code, user, stderr = run(
        runner, "users", "create", username, *flags, "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0, stderr
    assert isinstance(user, dict)
    return user


# --- serve -------------------------------------------------------------------------------


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr("ostiary.cli.serve.run_uvicorn", fake_run)
    return calls


def test_serve_runs_uvicorn_with_one_worker(
    runner: CliRunner, env: dict[str, str], uvicorn_calls: list[dict[str, Any]]
) -> None:
    code, _, stderr = run(runner, "serve", "--port", "8123")
    assert code == 0, stderr
    (call,) = uvicorn_calls
    assert (call["host"], call["port"], call["workers"]) == ("127.0.0.1", 8123, 1)
    assert call["log_config"]["loggers"]["ostiary"]["level"] == "INFO"


def test_serve_leaves_the_header_limit_to_the_app(
    runner: CliRunner,
    env: dict[str, str],
    uvicorn_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """h11's own 16 KiB limit would answer a bare 400 before the app's 431."""
    monkeypatch.setenv("OSTIARY_MAX_HEADER_BYTES", "20000")
    code, _, stderr = run(runner, "serve")
    assert code == 0, stderr
    assert uvicorn_calls[0]["h11_max_incomplete_event_size"] == 80_000


def test_serve_takes_its_issuer_from_the_address_unless_set(
    runner: CliRunner,
    env: dict[str, str],
    uvicorn_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Settings] = []

    def fake_create_app(settings: Settings, **_options: object) -> str:
        seen.append(settings)
        return "app"

    monkeypatch.setattr("ostiary.server.create_app", fake_create_app)
    run(runner, "serve", "--host", "0.0.0.0", "--port", "9000", "--demo")
    run(runner, "serve", "--host", "::1", "--port", "9001")
    monkeypatch.setenv("OSTIARY_ISSUER", "https://auth.example.com")
    run(runner, "serve")
    assert [s.issuer for s in seen] == [
        "http://127.0.0.1:9000",
        "http://[::1]:9001",
        "https://auth.example.com",
    ]
    assert [s.demo for s in seen] == [True, False, False]


def test_serve_refuses_to_start_without_a_master_key(
    runner: CliRunner,
    env: dict[str, str],
    uvicorn_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OSTIARY_DEV")
    code, _, stderr = run(runner, "serve")
    assert code == 2
    assert "OSTIARY_MASTER_KEY is not set" in stderr
    assert "--demo" in stderr
    assert uvicorn_calls == []


def test_serve_refuses_a_malformed_master_key(
    runner: CliRunner,
    env: dict[str, str],
    uvicorn_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSTIARY_MASTER_KEY", "too-short")
    code, _, stderr = run(runner, "serve")
    assert code == 2
    assert stderr.startswith("error: OSTIARY_MASTER_KEY:")
    assert "too-short" not in stderr


def test_serve_refuses_invalid_settings_naming_the_variable(
    runner: CliRunner,
    env: dict[str, str],
    uvicorn_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSTIARY_ACCESS_TOKEN_TTL", "soon")
    code, _, stderr = run(runner, "serve")
    assert code == 2
    assert "OSTIARY_ACCESS_TOKEN_TTL" in stderr and "soon" not in stderr


# --- db ----------------------------------------------------------------------------------


def test_db_upgrade_migrates_and_says_to_which_revision(
    runner: CliRunner, env: dict[str, str]
) -> None:
    code, output, stderr = run(runner, "db", "upgrade")
    assert code == 0, stderr
    assert output["database"] == env["OSTIARY_DATABASE_URL"]
    assert output["revision"]
    assert run(runner, "db", "upgrade")[1] == output  # a second run changes nothing


def test_db_upgrade_hides_the_password(
    runner: CliRunner, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSTIARY_DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:1/x")
    code, _, stderr = run(runner, "db", "upgrade")
    assert code == 1
    assert "hunter2" not in stderr


def test_db_upgrade_of_memory_storage_is_refused(
    runner: CliRunner, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSTIARY_DATABASE_URL", "memory://")
    code, _, stderr = run(runner, "db", "upgrade")
    assert (code, stderr) == (1, "error: memory:// storage has no schema to migrate.\n")


# --- users -------------------------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin(runner: CliRunner, env: dict[str, str]) -> None:
    user = create(runner, "Alice", "admin", "user")
    assert (user["username"], user["roles"], user["disabled"]) == (
        "alice",
        ["admin", "user"],
        False,
    )
    assert user["id"].startswith("usr_")


def test_users_create_refuses_a_weak_password_and_a_duplicate(
    runner: CliRunner, env: dict[str, str]
) -> None:
    code, _, stderr = run(runner, "users", "create", "bob", "--password-stdin", stdin="short\n")
    assert code == 1
    assert "at least 12 characters" in stderr
    create(runner, "bob")
    code, _, stderr = run(
        runner, "users", "create", "BOB", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert (code, stderr) == (1, "error: An account with this username exists already.\n")


def test_users_create_refuses_an_empty_password(runner: CliRunner, env: dict[str, str]) -> None:
    code, _, stderr = run(runner, "users", "create", "bob", "--password-stdin", stdin="\n")
    assert (code, stderr) == (1, "error: The password is empty.\n")


def test_users_list(runner: CliRunner, env: dict[str, str]) -> None:
    create(runner, "alice")
    create(runner, "bob", "admin")
    code, users, _ = run(runner, "users", "list")
    assert code == 0
    assert [(u["username"], u["roles"]) for u in users] == [("alice", ["user"]), ("bob", ["admin"])]


def test_users_add_and_remove_role(runner: CliRunner, env: dict[str, str]) -> None:
    create(runner, "alice")
    assert run(runner, "users", "add-role", "alice", "admin")[1]["roles"] == ["admin", "user"]
    assert run(runner, "users", "remove-role", "alice", "user")[1]["roles"] == ["admin"]
    code, _, stderr = run(runner, "users", "add-role", "alice", "bad role")
    assert code == 1
    assert "A role name is 1 to 64 printable ASCII characters" in stderr


def test_users_commands_on_an_unknown_user_fail(runner: CliRunner, env: dict[str, str]) -> None:
    for args in (("add-role", "nobody", "x"), ("disable", "nobody"), ("enable", "nobody")):
        code, _, stderr = run(runner, "users", *args)
        assert (code, stderr) == (1, "error: No such user.\n")


def test_users_disable_ends_sessions_and_enable_restores_login(
    runner: CliRunner, env: dict[str, str]
) -> None:
    user = create(runner, "alice")
    assert run(runner, "users", "disable", "alice")[1]["disabled"] is True
    feed = asyncio.run(_revocations(env))
    assert [(kind, value) for kind, value in feed] == [("sub", user["id"])]
    assert run(runner, "users", "enable", "alice")[1]["disabled"] is False


def test_users_set_password(runner: CliRunner, env: dict[str, str]) -> None:
    user = create(runner, "alice")
    code, _, stderr = run(
        runner, "users", "set-password", "alice", "--password-stdin", stdin="a new password!\n"
    )
    assert code == 0, stderr
    assert asyncio.run(_revocations(env)) == [("sub", user["id"])]


async def _revocations(env: dict[str, str]) -> list[tuple[str, str]]:
    storage = await open_storage(env["OSTIARY_DATABASE_URL"])
    try:
        return [(r.kind.value, r.value) for r in await storage.revocations.since(0)]
    finally:
        await storage.close()


# --- keys --------------------------------------------------------------------------------


def test_keys_rotate_then_list(runner: CliRunner, env: dict[str, str]) -> None:
    code, keys, stderr = run(runner, "keys", "rotate")
    assert code == 0, stderr
    assert [k["status"] for k in keys] == ["active"]
    code, keys, _ = run(runner, "keys", "rotate")
    assert sorted(k["status"] for k in keys) == ["active", "retired"]
    code, listed, _ = run(runner, "keys", "list")
    assert code == 0
    assert listed == keys
    assert set(listed[0]) == {
        "kid",
        "alg",
        "signs",
        "status",
        "created_at",
        "activated_at",
        "retired_at",
    }
    assert all(k["alg"] == "ES256" and k["signs"] == ["access_token"] for k in listed)


def test_keys_rotate_needs_the_master_key(
    runner: CliRunner, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 2, a setting missing; and no advice to make a new one, which would not open the
    stored keys."""
    monkeypatch.delenv("OSTIARY_DEV")
    code, _, stderr = run(runner, "keys", "rotate")
    assert code == 2
    assert "OSTIARY_MASTER_KEY is not set: set it to the master key the server runs with" in stderr


def test_keys_list_of_an_empty_database(runner: CliRunner, env: dict[str, str]) -> None:
    assert run(runner, "keys", "list")[:2] == (0, [])


def test_keys_master_key_prints_a_usable_key(runner: CliRunner) -> None:
    result = runner.invoke(app, ["keys", "master-key"])
    assert result.exit_code == 0
    MasterKey.from_text(result.stdout)
    assert "SECRET" in result.stderr
