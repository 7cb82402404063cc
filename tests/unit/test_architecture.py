"""The boundaries of ../shared/ARCHITECTURE.md, checked on the source itself."""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ostiary.keys.encryption import MasterKey

SRC = Path(__file__).resolve().parents[2] / "src" / "ostiary"
WEB = ("fastapi", "starlette", "flask", "uvicorn")
DATABASE = ("sqlalchemy", "redis", "alembic")
#: What imports no database driver: they take their stores as arguments.
DOMAIN = ("jose", "keys", "tokens", "revocation", "authn", "authz", "grants")
#: The core of docs/architecture.md: everything below the server, the CLI and the resource
#: toolkit's framework integrations. None of it imports a web framework.
CORE = (*DOMAIN, "storage", "wiring")
#: What no part of ``ostiary.revocation`` imports.
REVOCATION_NEVER = (
    "ostiary.server",
    "ostiary.resource",
    "ostiary.wiring",
    "ostiary.cli",
    "ostiary.keys",
    "ostiary.authn",
    "ostiary.grants",
)
#: (importer, what it must never import, modules of the importer allowed to): the layers of
#: docs/architecture.md, and ../shared/ARCHITECTURE.md's "Boundaries".
LAYERS = (
    ("cli", ("ostiary.server",), ("cli/serve.py",)),
    ("doctor", ("ostiary.server",), ()),
    ("wiring", ("ostiary.server", "ostiary.cli"), ()),
    (
        "storage",
        ("ostiary.keys", "ostiary.tokens", "ostiary.authn", "ostiary.grants", "ostiary.revocation"),
        (),
    ),
    (
        "tokens",
        (
            "ostiary.resource",
            "ostiary.server",
            "ostiary.grants",
            # Above ``tokens``: it uses introspection and the lifecycle.
            "ostiary.revocation.client_requests",
        ),
        (),
    ),
    # Revocation in one place, below ``tokens`` but for what a client's RFC 7009 request does.
    ("revocation", (*REVOCATION_NEVER, "ostiary.tokens"), ("revocation/client_requests.py",)),
    ("revocation/client_requests", REVOCATION_NEVER, ()),
    (
        "jose",
        (
            "ostiary.keys",
            "ostiary.tokens",
            "ostiary.storage",
            "ostiary.resource",
            "ostiary.revocation",
        ),
        (),
    ),
    ("keys", ("ostiary.tokens", "ostiary.resource", "ostiary.server", "ostiary.revocation"), ()),
    ("authn", ("ostiary.resource", "ostiary.server", "ostiary.grants"), ()),
    ("grants", ("ostiary.resource", "ostiary.server", "ostiary.wiring"), ()),
    (
        "resource",
        ("ostiary.server", "ostiary.wiring", "ostiary.storage", "ostiary.tokens", "ostiary.keys"),
        (),
    ),
)
#: (importer, a package, the only modules of it the importer may import): the resource toolkit
#: takes the revocation list and nothing else of the server's revocation.
ONLY = (("resource", "ostiary.revocation", ("ostiary.revocation.known",)),)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> Iterator[str]:
    """Every module ``source`` (the text of ``module``) imports, at any depth (inside functions
    too), relative imports resolved; ``from a import b`` yields ``a`` and ``a.b`` (``b`` may
    be a module)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            yield origin
            yield from (f"{origin}.{alias.name}" for alias in node.names)


def _imports(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    return list(imports_of(source, _module_name(path), is_package=path.name == "__init__.py"))


def _modules(package: str = "") -> list[Path]:
    """The modules of ``package`` (a folder, or a module such as ``wiring``); it must exist,
    so that a package that moved fails the test instead of being skipped."""
    folder, module = SRC / package, SRC / f"{package}.py"
    assert folder.is_dir() or module.is_file(), f"ostiary.{package} is not where docs say"
    found = sorted(folder.rglob("*.py")) if folder.is_dir() else [module]
    assert found, f"ostiary.{package} has no module"
    return found


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _beyond(imported: list[str], package: str, only: tuple[str, ...]) -> list[str]:
    """What of ``package`` is imported beyond the modules ``only`` and their names (the package
    itself, named by ``from package import module``, is not a use of it)."""
    return sorted(
        {m for m in imported if _under(m, (package,)) and m != package and not _under(m, only)}
    )


def test_the_source_tree_is_where_the_test_expects_it() -> None:
    assert (SRC / "jose" / "__init__.py").is_file()
    assert len(_modules()) > 100


def test_relative_and_absolute_imports_are_both_seen() -> None:
    source = (
        "from . import pages\n"
        "from ..server.app import create_app\n"
        "def f():\n    import ostiary.server.workers\n"
        "from ostiary import server\n"
    )
    found = set(imports_of(source, "ostiary.cli.tool"))
    assert {"ostiary.cli.pages", "ostiary.server.app", "ostiary.server.workers"} <= found
    assert "ostiary.server" in found
    in_package = set(imports_of("from .ring import KeyRing", "ostiary.keys", is_package=True))
    assert "ostiary.keys.ring" in in_package


def test_a_layer_violation_would_be_caught() -> None:
    """The check below on a module that breaks a layer: it must fail (not pass by
    construction)."""
    imported = list(imports_of("from ..resource.access_claims import X", "ostiary.tokens.bad"))
    assert any(_under(m, ("ostiary.resource",)) for m in imported)
    upward = list(imports_of("from ..tokens.lifecycle import X", "ostiary.revocation.bad"))
    assert any(_under(m, ("ostiary.tokens",)) for m in upward)
    (_, package, only), *_ = ONLY
    for source in ("from ostiary.revocation.service import X", "from ..revocation import relay"):
        imported = list(imports_of(source, "ostiary.resource.bad"))
        assert _beyond(imported, package, only), source
    allowed = list(imports_of("from ostiary.revocation import known", "ostiary.resource.ok"))
    assert not _beyond(allowed, package, only)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_only_ostiary_jose_imports_the_jose_library(path: Path) -> None:
    if path.is_relative_to(SRC / "jose"):
        return
    offending = [m for m in _imports(path) if m.split(".")[0] in ("joserfc", "jwt", "jose")]
    assert not offending, f"{path.relative_to(SRC)} imports {offending}"


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_import_no_web_framework_or_database(package: str) -> None:
    for path in _modules(package):
        offending = [m for m in _imports(path) if m.split(".")[0] in WEB + DATABASE]
        assert not offending, f"{path.relative_to(SRC)} imports {offending}"


@pytest.mark.parametrize("package", CORE)
def test_the_core_imports_no_web_framework(package: str) -> None:
    """The services the server, the CLI and doctor all start from (``ostiary.wiring``) and
    what they are made of run without FastAPI, Starlette, Flask or uvicorn."""
    for path in _modules(package):
        offending = [m for m in _imports(path) if m.split(".")[0] in WEB]
        assert not offending, f"{path.relative_to(SRC)} imports {offending}"


@pytest.mark.parametrize(
    ("package", "forbidden", "allowed"), LAYERS, ids=[layer[0] for layer in LAYERS]
)
def test_each_layer_imports_only_what_lies_below_it(
    package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...]
) -> None:
    for name in allowed:
        assert (SRC / name).is_file(), f"the exception {name} no longer exists"
    for path in _modules(package):
        if str(path.relative_to(SRC)) in allowed:
            continue
        offending = sorted({m for m in _imports(path) if _under(m, forbidden)})
        assert not offending, f"{path.relative_to(SRC)} imports {offending}"


@pytest.mark.parametrize(("package", "of", "only"), ONLY, ids=[rule[0] for rule in ONLY])
def test_a_layer_imports_only_the_named_modules_of_a_package(
    package: str, of: str, only: tuple[str, ...]
) -> None:
    for name in only:
        assert (SRC.parent / f"{name.replace('.', '/')}.py").is_file(), f"{name} no longer exists"
    for path in _modules(package):
        offending = _beyond(_imports(path), of, only)
        assert not offending, f"{path.relative_to(SRC)} imports {offending}"


@pytest.mark.parametrize("package", ["cli", "doctor"])
def test_the_cli_and_doctor_never_import_a_web_framework(package: str) -> None:
    """Only ``ostiary serve`` starts the server; every other command works on the services."""
    for path in _modules(package):
        if path == SRC / "cli" / "serve.py":
            continue
        offending = [m for m in _imports(path) if m.split(".")[0] in WEB]
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


#: What the serving process never loads (issue 11, RSS): alembic and mako are the migration's
#: (run in a child process, or not at all on a database at head); pygments and rich came in
#: through httpx's command-line module; httpx is the toolkit's client side and the back-channel
#: logout's; jinja2 renders the sign-in pages, loaded by the first one shown.
NOT_IN_THE_SERVER = ("alembic", "mako", "pygments", "rich", "httpx", "jinja2")
SERVE_LAUNCHER = "import sys; from ostiary.cli import main; sys.argv = sys.argv[1:]; main()"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("database", ["new", "migrated"])
def test_the_serving_process_loads_neither_the_migrations_nor_httpx_nor_jinja2(
    database: str, tmp_path: Path
) -> None:
    """``ostiary serve --demo`` on a new SQLite file (migrated at start-up) and on one already
    migrated, run for real with ``-X importtime`` until ``/readyz`` says 200: every module the
    server process imported is on its stderr."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}"
    if database == "migrated":
        from ostiary.storage.sql import upgrade

        upgrade(url)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.upper().startswith("OSTIARY_")},
        "OSTIARY_DATABASE_URL": url,
    }
    port = _free_port()
    serve = ["serve", "--demo", "--port", str(port)]
    log = tmp_path / "stderr"
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-c", SERVE_LAUNCHER, "ostiary", *serve],
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            ready = False
            for _ in range(300):  # up to a minute on a slow machine
                if server.poll() is not None:
                    break
                ready = _ready(port)
                if ready:
                    break
                time.sleep(0.2)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    output = log.read_text()
    assert ready, output[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in output.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "ostiary.server.app" in imported, output[-2000:]  # the check saw the imports at all
    loaded = sorted({m.split(".")[0] for m in imported} & set(NOT_IN_THE_SERVER))
    assert not loaded, f"ostiary serve imported {loaded}"
