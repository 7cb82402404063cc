"""The boundaries of ../shared/ARCHITECTURE.md, checked on the source itself."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ostiary.keys.encryption import MasterKey

SRC = Path(__file__).resolve().parents[2] / "src" / "ostiary"
WEB_AND_STORAGE = ("fastapi", "starlette", "sqlalchemy", "redis", "flask", "uvicorn", "alembic")
DOMAIN = ("jose", "keys", "tokens", "authn", "authz", "grants")


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _modules(package: str = "") -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def test_the_source_tree_is_where_the_test_expects_it() -> None:
    assert (SRC / "jose" / "__init__.py").is_file()
    assert len(_modules()) > 20


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_only_ostiary_jose_imports_the_jose_library(path: Path) -> None:
    if path.is_relative_to(SRC / "jose"):
        return
    offending = [m for m in _imports(path) if m.split(".")[0] in ("joserfc", "jwt", "jose")]
    assert not offending, f"{path.relative_to(SRC)} imports {offending}"


@pytest.mark.parametrize("package", [p for p in DOMAIN if (SRC / p).is_dir()])
def test_domain_packages_import_no_web_framework_or_database(package: str) -> None:
    for path in _modules(package):
        offending = [m for m in _imports(path) if m.split(".")[0] in WEB_AND_STORAGE]
        assert not offending, f"{path.relative_to(SRC)} imports {offending}"


WEB = ("fastapi", "starlette", "flask", "uvicorn")


def test_the_wiring_imports_no_web_framework_and_nothing_of_the_server() -> None:
    """The server, the CLI and doctor all build their services with ``ostiary.wiring``."""
    offending = [
        m
        for m in _imports(SRC / "wiring.py")
        if m.split(".")[0] in WEB or m.startswith("ostiary.server")
    ]
    assert not offending, f"wiring.py imports {offending}"


@pytest.mark.parametrize("package", ["cli", "doctor"])
def test_the_cli_and_doctor_never_import_the_server(package: str) -> None:
    """Only ``ostiary serve`` starts the server; every other command works on the services."""
    for path in _modules(package):
        if path == SRC / "cli" / "serve.py":
            continue
        offending = [
            m for m in _imports(path) if m.startswith("ostiary.server") or m.split(".")[0] in WEB
        ]
        assert not offending, f"{path.relative_to(SRC)} imports {offending}"


def test_no_two_modules_are_named_service_and_services() -> None:
    names = {path.stem for path in _modules()}
    assert not {"service", "services"} <= names
    assert not (SRC / "server" / "service.py").exists()
    assert not (SRC / "server" / "services.py").exists()


#: Commands that must start without the web stack (issue 11 §3): only ``serve`` needs it.
LIGHT_COMMANDS = (["--help"], ["users", "list"], ["doctor"], ["keys", "list"])


@pytest.mark.parametrize("command", LIGHT_COMMANDS, ids=" ".join)
def test_commands_other_than_serve_never_load_the_web_stack(
    command: list[str], tmp_path: Path
) -> None:
    """Run for real, with ``-X importtime``: every module the process imported is listed on
    stderr, whatever path imported it (a static check would miss an import inside a
    function)."""
    launcher = "import sys; from ostiary.cli import main; sys.argv = sys.argv[1:]; main()"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.upper().startswith("OSTIARY_")},
        "OSTIARY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY": MasterKey.new_text(),
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", launcher, "ostiary", *command],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "ostiary.cli" in imported, done.stderr[-2000:]  # the check saw the imports at all
    heavy = sorted(m for m in imported if m.split(".")[0] in WEB or m.startswith("ostiary.server"))
    assert not heavy, f"ostiary {' '.join(command)} imported {heavy[:10]}"
