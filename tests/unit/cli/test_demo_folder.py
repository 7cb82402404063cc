"""The folder where ``make run`` (``ostiary serve --demo``) ran: every operator command run
from it works with the demo's database and generated master key, and ``doctor`` passes it
with warnings; a database anywhere else never gets that key.

The folder is made by the server's own start-up (what ``serve --demo`` runs before it
answers), then each command runs as a subprocess in it, with no ``OSTIARY_*`` variable set."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import pytest

from ostiary.cli._command_setup import load_settings
from ostiary.keys import MasterKey

#: A bound on each command, never a speed assertion.
COMMAND_TIMEOUT: Final = 60.0
KEY_FILE: Final = Path(".ostiary") / "master.key"
PASSWORD: Final = "a-password-for-the-cli-test"


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without any ``OSTIARY_*`` of the developer's shell."""
    kept = {k: v for k, v in os.environ.items() if not k.upper().startswith("OSTIARY_")}
    return {**kept, **values}


def ostiary(
    folder: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``ostiary ARGS`` run in ``folder``; ``env`` adds ``OSTIARY_*`` variables."""
    return subprocess.run(
        [sys.executable, "-m", "ostiary.cli", *args],
        cwd=folder,
        env=clean_environment(**(env or {})),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def started_demo(folder: Path) -> None:
    """What ``ostiary serve --demo`` does in ``folder`` before it answers: the settings of
    ``--demo``, then the app's start-up (master key file, database, keys, demo users), then
    its shutdown."""
    from ostiary.server import create_app

    async def start_and_stop() -> None:
        app = create_app(load_settings(demo=True))
        async with app.router.lifespan_context(app):
            pass

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.upper().startswith("OSTIARY_"):
                patch.delenv(name)
        patch.chdir(folder)
        asyncio.run(start_and_stop())


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("make-run")
    started_demo(folder)
    assert (folder / KEY_FILE).is_file() and (folder / "ostiary.db").is_file()
    return folder


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the folder ``make run`` leaves, for one test to change."""
    folder = tmp_path / "checkout"
    shutil.copytree(demo_template, folder)
    yield folder


def keys_of(folder: Path) -> list[dict[str, Any]]:
    done = ostiary(folder, "keys", "list")
    assert done.returncode == 0, done.stderr
    keys: list[dict[str, Any]] = json.loads(done.stdout)
    return keys


def test_keys_rotate_uses_the_demo_key(demo: Path) -> None:
    before = {k["kid"] for k in keys_of(demo) if k["status"] == "active"}
    done = ostiary(demo, "keys", "rotate")
    assert done.returncode == 0, done.stderr
    assert ".ostiary/master.key" in done.stderr  # says which key it used, and why
    assert "OSTIARY_MASTER_KEY is not set" not in done.stderr
    active = {k["kid"] for k in json.loads(done.stdout) if k["status"] == "active"}
    assert active and active != before


def test_doctor_passes_the_demo_setup_with_warnings(demo: Path) -> None:
    done = ostiary(demo, "doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert not [line for line in lines if line.startswith("FAIL")]
    warned = {line.split(":")[0] for line in lines if line.startswith("WARN")}
    assert {"WARN  mode", "WARN  master key", "WARN  cookies"} <= warned
    assert any(line.startswith("PASS  stored keys") for line in lines)


def test_user_and_audit_commands_use_the_demo_database(demo: Path) -> None:
    listed = ostiary(demo, "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert {u["username"] for u in json.loads(listed.stdout)} == {"alice", "admin"}
    created = ostiary(demo, "users", "create", "carol", "--password-stdin", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    disabled = ostiary(demo, "users", "disable", "carol")  # ends sessions: needs the key too
    assert disabled.returncode == 0, disabled.stderr
    last = ostiary(demo, "audit", "tail", "--limit", "1")
    assert last.returncode == 0, last.stderr
    assert json.loads(last.stdout)["kind"] == "user.disable"


def test_keys_list_says_which_key_signs_what(demo: Path) -> None:
    """Two active keys after a first start: ES256 for access tokens, RS256 for ID tokens."""
    active = {k["alg"]: k["signs"] for k in keys_of(demo) if k["status"] == "active"}
    assert active == {"ES256": ["access_token"], "RS256": ["id_token"]}


def test_an_explicit_master_key_wins_over_the_folder(demo: Path) -> None:
    done = ostiary(demo, "keys", "rotate", env={"OSTIARY_MASTER_KEY": MasterKey.new_text()})
    assert done.returncode == 1
    assert "wrong master key" in done.stderr


def test_dev_mode_turned_off_keeps_the_folder_out(demo: Path) -> None:
    done = ostiary(demo, "keys", "rotate", env={"OSTIARY_DEV": "false"})
    assert done.returncode == 2
    assert "OSTIARY_MASTER_KEY is not set" in done.stderr


def test_a_database_elsewhere_never_gets_the_dev_key(demo: Path, tmp_path: Path) -> None:
    """A production database must not get keys sealed with a key file lying about."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(demo / "ostiary.db", elsewhere / "ostiary.db")
    url = f"sqlite:///{elsewhere / 'ostiary.db'}"
    before = keys_of_url(demo, url)
    done = ostiary(demo, "keys", "rotate", env={"OSTIARY_DATABASE_URL": url})
    assert done.returncode == 2
    assert "OSTIARY_MASTER_KEY is not set" in done.stderr
    assert "only with a SQLite database in this folder" in done.stderr
    assert keys_of_url(demo, url) == before


def keys_of_url(folder: Path, url: str) -> list[dict[str, Any]]:
    done = ostiary(folder, "keys", "list", env={"OSTIARY_DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    keys: list[dict[str, Any]] = json.loads(done.stdout)
    return keys


def test_no_key_is_made_for_a_folder_without_one(demo: Path) -> None:
    shutil.rmtree(demo / ".ostiary")
    done = ostiary(demo, "keys", "rotate")
    assert done.returncode == 2
    assert "OSTIARY_MASTER_KEY is not set" in done.stderr
    assert not (demo / ".ostiary").exists()
    doctor = ostiary(demo, "doctor")
    assert doctor.returncode == 1
    assert "FAIL  master key" in doctor.stdout
