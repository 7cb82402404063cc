"""The real server for the live tests (``test_live_*``, ``tests/interop/test_live_jwks.py``):
``ostiary serve --demo`` as a subprocess on a free 127.0.0.1 port, in a temporary working
directory, with its stdout and stderr captured to files; and what those tests share: the
README walkthrough over HTTP with every token it saw recorded, the walkthrough the server
printed run with bash, a PostgreSQL database of the run's own, and OAuth clients registered
in a server's database.

Everything is bounded: start-up, each request, the bash run and the shutdown have time limits,
and a server that does not stop on SIGTERM is killed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from ostiary.authn.client_registry import Registered
from ostiary.authn.client_settings import ClientSettings
from ostiary.authz.trust import REVOCATIONS_SCOPE
from ostiary.clock import SYSTEM_CLOCK
from ostiary.settings import DEFAULT_ISSUER, Settings
from ostiary.storage.sql import SQLStorage, upgrade
from ostiary.wiring import cli_lifecycle, client_registry

from .._postgres import PostgresUnavailable, postgres_database
from ._server import FAST_ARGON2

STARTUP_TIMEOUT: Final = 30.0
SHUTDOWN_TIMEOUT: Final = 10.0
PORT_ATTEMPTS: Final = 3
REQUEST_TIMEOUT: Final = 10.0
#: How long the access log may take to show a request (it is written every 0.2 s).
ACCESS_LOG_WAIT: Final = 10.0
BASH_TIMEOUT: Final = 30.0
JWKS_PATH: Final = "/.well-known/jwks.json"
AUDIENCE: Final = "api"  # the default OSTIARY_AUDIENCE


def login_audiences(issuer: str) -> list[str]:
    """The ``aud`` of a first-party login's token (no admin): OSTIARY_AUDIENCE's and the
    account API's."""
    return sorted([AUDIENCE, f"{issuer}/auth"])


#: Run instead of the console script for a verbose server: ``ostiary serve`` has no log-level
#: option, so this raises every logger of its logging configuration (Ostiary's, uvicorn's and
#: the access log) and the root logger (SQLAlchemy, asyncio, ...) to DEBUG, then runs the very
#: same command-line entry point.
VERBOSE_LAUNCHER: Final = """\
import sys
import ostiary.cli.serve as serve

quiet = serve.log_config

def verbose():
    config = quiet()
    for logger in config["loggers"].values():
        logger["level"] = "DEBUG"
    config["root"] = {"handlers": ["default"], "level": "DEBUG"}
    return config

serve.log_config = verbose
sys.argv = ["ostiary", *sys.argv[1:]]
from ostiary.cli import main

main()
"""


def demo_password(name: str) -> str:
    """A fresh password per run, so that finding it in a log means it was logged."""
    return f"{name}-{secrets.token_urlsafe(12)}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(*, verbose: bool) -> list[str]:
    """``<venv>/bin/ostiary``, the console script, or the verbose launcher."""
    if verbose:
        return [sys.executable, "-c", VERBOSE_LAUNCHER]
    script = Path(sys.executable).with_name("ostiary")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ostiary.cli"]


def clean_environment() -> dict[str, str]:
    """This process's environment without any ``OSTIARY_*`` of the developer's shell."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("OSTIARY_")}


@dataclass(frozen=True)
class LiveServer:
    """A running ``ostiary serve --demo``."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    database_url: str
    alice_password: str
    admin_password: str
    #: Served over HTTPS with this certificate (``ostiary dev-cert``'s), trusted by the clients.
    tls_cert: Path | None = None

    @property
    def base_url(self) -> str:
        scheme = "http" if self.tls_cert is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What the clients verify the server with: the certificate itself when it has one."""
        return True if self.tls_cert is None else ssl.create_default_context(cafile=self.tls_cert)

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def jwks_url(self) -> str:
        return self.base_url + JWKS_PATH

    @property
    def stdout_path(self) -> Path:
        return self.workdir / "stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / "stderr.log"

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def logs(self) -> str:
        """Everything the server wrote so far, stdout then stderr."""
        stderr = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        return self.stdout() + stderr

    def access_log(self) -> list[dict[str, Any]]:
        """The access log's lines for every request answered so far. The log is written in
        batches: this asks ``/readyz`` with a marker and waits (bounded) for the marker's line,
        after which every earlier line is in."""
        marker = secrets.token_hex(8)
        with self.client() as client:
            client.get("/readyz", params={"mark": marker})
        deadline = time.monotonic() + ACCESS_LOG_WAIT
        while True:
            lines = [
                json.loads(line)
                for line in self.stdout().splitlines()
                if line.startswith('{"time":') and '"path":' in line
            ]
            if any(line["path"] == f"/readyz?mark={marker}" for line in lines):
                return [line for line in lines if marker not in line["path"]]
            if time.monotonic() > deadline:
                raise AssertionError(f"no access line for the marker in {ACCESS_LOG_WAIT} s")
            time.sleep(0.05)

    def password(self, username: str) -> str:
        return {"alice": self.alice_password, "admin": self.admin_password}[username]

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client for this server; the caller closes it."""
        return httpx.Client(
            base_url=self.base_url, timeout=REQUEST_TIMEOUT, verify=self.verify, **kwargs
        )

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, timeout=REQUEST_TIMEOUT, verify=self.verify, **kwargs
        )

    def stop(self) -> None:
        """SIGTERM, as a service manager would; SIGKILL if it has not ended in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=SHUTDOWN_TIMEOUT)


class StartupFailed(RuntimeError):
    """The server exited or did not answer ``/readyz`` in time."""


class PortTaken(StartupFailed):
    """Another process bound the free port between our look and the server's bind."""


@contextlib.contextmanager
def live_server(
    workdir: Path,
    *,
    database_url: str | None = None,
    verbose: bool = False,
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
    tls: tuple[Path, Path] | None = None,
    port: int | None = None,
    passwords: tuple[str, str] | None = None,
) -> Iterator[LiveServer]:
    """``ostiary serve --demo`` in ``workdir`` (SQLite in it unless ``database_url``), ready
    (``/readyz`` answered) when entered, stopped when left; ``options`` are added to the
    command line, ``tls`` (certificate, key) makes it serve HTTPS. Should the free port be
    taken before the server binds it, it starts again on another port in a fresh directory
    (unless ``port`` is given: a restart on the same port fails instead). ``passwords``
    (alice's, admin's): those of servers sharing one database; fresh ones otherwise."""
    alice, admin = passwords or (demo_password("alice"), demo_password("admin"))
    for attempt in range(1, PORT_ATTEMPTS + 1):
        stack = contextlib.ExitStack()
        try:
            server = _start(
                stack,
                workdir if attempt == 1 else workdir / f"attempt-{attempt}",
                database_url=database_url,
                passwords=(alice, admin),
                verbose=verbose,
                env=env or {},
                options=[*options, *_tls_options(tls)],
                tls_cert=None if tls is None else tls[0],
                port=port,
            )
        except PortTaken:
            stack.close()
            if attempt == PORT_ATTEMPTS or port is not None:
                raise
            continue
        except BaseException:
            stack.close()
            raise
        with stack:
            yield server
        return


def _start(
    stack: contextlib.ExitStack,
    workdir: Path,
    *,
    database_url: str | None,
    passwords: tuple[str, str],
    verbose: bool,
    env: Mapping[str, str],
    options: Sequence[str] = (),
    tls_cert: Path | None = None,
    port: int | None = None,
) -> LiveServer:
    """Start the server, its output going to files that ``stack`` closes after stopping it."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = database_url or sqlite_url(workdir)
    port = port if port is not None else free_port()
    environment = {
        **clean_environment(),
        "PYTHONUNBUFFERED": "1",
        "OSTIARY_DATABASE_URL": url,
        "OSTIARY_ISSUER": f"{'http' if tls_cert is None else 'https'}://127.0.0.1:{port}",
        "OSTIARY_DEMO_ALICE_PASSWORD": passwords[0],
        "OSTIARY_DEMO_ADMIN_PASSWORD": passwords[1],
        **{f"OSTIARY_{name.upper()}": str(value) for name, value in FAST_ARGON2.items()},
        **env,
    }
    command = [
        *server_command(verbose=verbose),
        *("serve", "--demo", "--host", "127.0.0.1", "--port", str(port)),
        *options,
    ]
    out = stack.enter_context((workdir / "stdout.log").open("wb"))
    err = stack.enter_context((workdir / "stderr.log").open("wb"))
    process = subprocess.Popen(
        command, cwd=workdir, env=environment, stdin=subprocess.DEVNULL, stdout=out, stderr=err
    )
    server = LiveServer(process, port, workdir, url, *passwords, tls_cert=tls_cert)
    stack.callback(server.stop)  # before the files close
    wait_until_ready(server)
    return server


def _tls_options(tls: tuple[Path, Path] | None) -> list[str]:
    return [] if tls is None else ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]


def sqlite_url(workdir: Path) -> str:
    """The database of a server started in ``workdir`` without a ``database_url``."""
    return f"sqlite+aiosqlite:///{workdir / 'ostiary.db'}"


def register_client(
    database_url: str,
    settings: ClientSettings,
    *,
    client_id: str,
    issuer: str = DEFAULT_ISSUER,
) -> Registered:
    """Register an OAuth client in a live server's database, as an operator would (there is no
    admin HTTP API for it). The database is migrated first, so this may come before the server
    starts (pass ``sqlite_url(workdir)`` to both). If the server runs already, register before
    its first request naming ``client_id``: it caches a lookup, found or not, a few seconds.
    The registry is the server's, with its rules for ``issuer``'s own audiences. Not from a
    running event loop."""
    upgrade(database_url)
    server = Settings(database_url=database_url, issuer=issuer, dev=True)

    async def create() -> Registered:
        storage = SQLStorage.from_url(database_url)
        try:
            registry = client_registry(
                server, storage, cli_lifecycle(server, storage), clock=SYSTEM_CLOCK
            )
            return await registry.create(settings, client_id=client_id)
        finally:
            await storage.close()

    return asyncio.run(create())


def register_stream_reader(database_url: str, port: int, *, client_id: str, name: str) -> str:
    """A service allowed the revocation stream of the server that will serve on ``port``,
    registered before it starts; its secret."""
    issuer = f"http://127.0.0.1:{port}"
    registered = register_client(
        database_url,
        ClientSettings(
            name=name,
            scopes=frozenset({REVOCATIONS_SCOPE}),
            audiences=frozenset({f"{issuer}/auth/revocations"}),
        ),
        client_id=client_id,
        issuer=issuer,
    )
    assert registered.secret is not None
    return registered.secret


def wait_until_ready(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=server.base_url, timeout=1.0, verify=server.verify) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                logs = server.logs()
                failure = PortTaken if "address already in use" in logs else StartupFailed
                raise failure(
                    f"the server exited with {server.process.returncode} during start-up:\n"
                    + logs[-3000:]
                )
            with contextlib.suppress(httpx.TransportError):
                answer = client.get("/readyz")
                if answer.status_code == 200 and answer.json() == {"status": "ready"}:
                    return
            time.sleep(0.05)
    raise StartupFailed(
        f"the server was not ready in {STARTUP_TIMEOUT} s:\n" + server.logs()[-3000:]
    )


# --- tokens ------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signature_of(token: str) -> str:
    return token.rsplit(".", 1)[1]


def header_of(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, decoded here, independently of Ostiary."""
    return _json_part(token, 0)


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, unverified (the tests check what the server issued)."""
    return _json_part(token, 1)


def _json_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


@dataclass
class SeenTokens:
    """Every access and refresh token in a JSON response, as an httpx response hook."""

    access_tokens: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)

    def __call__(self, response: httpx.Response) -> None:
        if not response.headers.get("content-type", "").startswith("application/json"):
            return
        response.read()
        self.add(response.json())

    def add(self, body: object) -> None:
        if not isinstance(body, dict):
            return
        for name, seen in (
            ("access_token", self.access_tokens),
            ("refresh_token", self.refresh_tokens),
        ):
            value = body.get(name)
            if isinstance(value, str) and value not in seen:
                seen.append(value)


# --- the README walkthrough over HTTP ----------------------------------------------------


@dataclass
class Walk:
    """The answers of the walkthrough, by step name, in order."""

    responses: dict[str, httpx.Response] = field(default_factory=dict)

    def __getitem__(self, step: str) -> httpx.Response:
        return self.responses[step]

    def json(self, step: str) -> Any:
        return self.responses[step].json()

    def tokens(self, step: str) -> tuple[str, str]:
        """The access and refresh token a token response of ``step`` carried."""
        body = self.json(step)
        return body["access_token"], body["refresh_token"]


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/auth/login", json={"username": username, "password": password})


def walk_readme(client: httpx.Client, server: LiveServer) -> Walk:
    """The walkthrough of the README, plus the admin's view of the demo API and the session
    list: every answer recorded, nothing asserted (the tests do that)."""
    walk = Walk()
    step = walk.responses

    step["login"] = login(client, "alice", server.alice_password)
    access, refresh = walk.tokens("login")
    step["profile"] = client.get("/api/profile", headers=bearer(access))
    step["reports"] = client.get("/api/reports", headers=bearer(access))
    step["admin stats as alice"] = client.get("/api/admin/stats", headers=bearer(access))

    step["admin login"] = login(client, "admin", server.admin_password)
    admin_access, _ = walk.tokens("admin login")
    step["admin stats"] = client.get("/api/admin/stats", headers=bearer(admin_access))
    step["reports as admin"] = client.get("/api/reports", headers=bearer(admin_access))

    step["refresh"] = client.post("/auth/refresh", json={"refresh_token": refresh})
    _, next_refresh = walk.tokens("refresh")
    step["refresh again"] = client.post("/auth/refresh", json={"refresh_token": next_refresh})
    refreshed_access, refreshed_refresh = walk.tokens("refresh again")
    step["profile after refresh"] = client.get("/api/profile", headers=bearer(refreshed_access))
    step["reuse"] = client.post("/auth/refresh", json={"refresh_token": refresh})
    step["profile after reuse"] = client.get("/api/profile", headers=bearer(refreshed_access))
    step["me after reuse"] = client.get("/auth/me", headers=bearer(refreshed_access))
    step["refresh after reuse"] = client.post(
        "/auth/refresh", json={"refresh_token": refreshed_refresh}
    )

    step["login again"] = login(client, "alice", server.alice_password)
    again_access, again_refresh = walk.tokens("login again")
    step["me"] = client.get("/auth/me", headers=bearer(again_access))
    step["sessions"] = client.get("/auth/sessions", headers=bearer(again_access))
    step["logout"] = client.post("/auth/logout", headers=bearer(again_access))
    step["profile after logout"] = client.get("/api/profile", headers=bearer(again_access))
    step["me after logout"] = client.get("/auth/me", headers=bearer(again_access))
    step["refresh after logout"] = client.post(
        "/auth/refresh", json={"refresh_token": again_refresh}
    )

    step["jwks"] = client.get(JWKS_PATH)
    return walk


# --- the walkthrough the server printed ----------------------------------------------------


def printed_walkthrough(stdout: str) -> str:
    """The indented shell block after "Try it from another shell", dedented."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Try it from another shell"))
    block: list[str] = []
    for line in lines[start + 1 :]:
        if line and not line.startswith("  "):
            break
        block.append(line[2:])
    return "\n".join(block).strip() + "\n"


@dataclass(frozen=True)
class BashRun:
    returncode: int
    stdout: str
    stderr: str
    #: What the run left in its directory (login.json, refreshed.json).
    files: dict[str, str]

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def run_printed_walkthrough(server: LiveServer, workdir: Path) -> BashRun:
    """The block the server printed at start, run with bash in ``workdir`` as a user who
    pasted it (with ``OSTIARY_DEMO_ALICE_PASSWORD`` set, as the server was started with)."""
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "walkthrough.sh"
    script.write_text(printed_walkthrough(server.stdout()), encoding="utf-8")
    environment = {**clean_environment(), "OSTIARY_DEMO_ALICE_PASSWORD": server.alice_password}
    done = run_bash(script, workdir, environment, what="the printed walkthrough")
    stdout, stderr = done.stdout, done.stderr
    files = {p.name: p.read_text(encoding="utf-8") for p in workdir.glob("*.json")}
    return BashRun(done.returncode, stdout, stderr, files)


def run_bash(
    script: Path,
    workdir: Path,
    environment: Mapping[str, str],
    *,
    flags: Sequence[str] = (),
    timeout: float = BASH_TIMEOUT,
    what: str = "the script",
) -> subprocess.CompletedProcess[str]:
    """``bash [flags] script`` in ``workdir`` as a user who pasted it; killed with everything it
    started (its curls) past ``timeout``, which fails the test."""
    with subprocess.Popen(
        ["bash", "--noprofile", "--norc", *flags, str(script)],
        cwd=workdir,
        env=dict(environment),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its curls too are ended on a timeout
    ) as bash:
        try:
            stdout, stderr = bash.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(bash.pid, signal.SIGKILL)
            bash.communicate()
            raise AssertionError(f"{what} ran longer than {timeout} s") from None
    return subprocess.CompletedProcess(bash.args, bash.returncode, stdout, stderr)


# PostgreSQL databases of a run's own come from tests/_postgres.py.
__all__ = ["PostgresUnavailable", "postgres_database"]
