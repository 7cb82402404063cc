"""Server: the Ostiary auth server itself under load, per CPU core it used.

The real server, ``ostiary serve --demo`` (one uvicorn worker, uvloop and httptools, the
access log on as shipped, written to a file), runs as its own process on 127.0.0.1, pinned to
one CPU, with default settings: ES256, argon2id m=19456 KiB t=2 p=1, the demo user ``alice``
seeded with a password the bench chose. Two such servers run: one on SQLite (a file in a
temporary directory) and one on PostgreSQL (a database the bench creates and drops). The load
comes from another process (:mod:`benchmarks._load`, on another CPU), bounded in time.

A round measures, each after a warm-up that is not counted:

- the bare argon2id hash rate: ``argon2.PasswordHasher`` with the server's parameters, in
  this process, pinned to the server's CPU (the baseline of the login target);
- logins: ``POST /auth/login`` for ``alice``, the same JSON body every time;
- refreshes with rotation, on SQLite and on PostgreSQL: sessions are started by logging in
  first (outside the timed window), one per connection; each connection then sends the
  refresh token the previous response returned, so every request rotates a live token;
- ``GET /.well-known/jwks.json``; ``GET /api/profile`` with one valid access token (the demo
  API, protected through ``ostiary.resource``: a verifier cache hit after the first request);
- client credentials grants: ``POST /oauth/token`` ``grant_type=client_credentials`` by the
  demo's service account (``client_secret_basic``, a secret the bench chose), on SQLite: a
  new ES256 access token every time.

Rates are per second of the server's CPU time (from ``/proc``): the figure does not drop when
another process takes CPU from the server, and it is "per core" whatever the CPU share the
server got. For PostgreSQL the CPU of the database's own backend processes is shown beside
it. The servers' resident memory (``VmRSS``) is read once they answer, before any load, and
``settle`` seconds after the last round. Keycloak's published sizing figures are printed
beside as reference columns, not measured here. Every process started is stopped and the
PostgreSQL database dropped at the end, also on failure.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from benchmarks._common import Target, median, ratio, render_table
from benchmarks.http import Measurement, Server, cpu_plan, http_status, load, placement

LOGIN: Final = "logins"
REFRESH_SQLITE: Final = "refreshes, SQLite"
REFRESH_POSTGRES: Final = "refreshes, PostgreSQL"
JWKS: Final = "JWKS GETs"
PROFILE: Final = "protected route"
SERVICE_TOKEN: Final = "client credentials"
LOADS: Final = (LOGIN, REFRESH_SQLITE, REFRESH_POSTGRES, JWKS, PROFILE, SERVICE_TOKEN)
HASH: Final = "argon2id hash, bare"

LOGIN_PATH: Final = "/auth/login"
REFRESH_PATH: Final = "/auth/refresh"
JWKS_PATH: Final = "/.well-known/jwks.json"
PROFILE_PATH: Final = "/api/profile"
TOKEN_PATH: Final = "/oauth/token"
USERNAME: Final = "alice"
#: The demo's service account (``ostiary serve --demo`` registers it).
SERVICE_CLIENT: Final = "demo-service"

LOGIN_TARGET: Final = 0.8  # of the bare hash rate
REFRESH_TARGET: Final = 1000.0  # per CPU-second, SQLite, on the reference machine
SERVICE_TOKEN_TARGET: Final = 3500.0  # client_credentials grants per CPU-second, the same
#: The absolute targets above were set where ``s = 0; for i in range(10**7): s += i`` took
#: this long; on another machine they are scaled by its own time for the loop (issue 11 §2).
CALIBRATION_REFERENCE_SECONDS: Final = 0.69
#: Refreshes with rotation per server CPU-second, PostgreSQL over SQLite, at least.
POSTGRES_REFRESH_TARGET: Final = 0.9
RATE_LIMITS: Final = ("LOGIN", "LOGIN_ADDRESS", "REFRESH_ADDRESS", "TOKEN")
BENCH_RATE_LIMIT: Final = "100000000/minute"
MEMORY_TARGET_MB: Final = 120.0

#: Keycloak's published sizing ("Concepts for sizing CPU and memory resources"): one vCPU per
#: 15 password logins/s, per 120 refresh-token requests/s and per 120 client credential
#: grants/s; 1250 MB of memory per pod.
KEYCLOAK_PER_VCPU: Final = {
    LOGIN: 15.0,
    REFRESH_SQLITE: 120.0,
    REFRESH_POSTGRES: 120.0,
    SERVICE_TOKEN: 120.0,
}
KEYCLOAK_POD_MB: Final = 1250.0

POSTGRES_ADMIN_URL: Final = os.environ.get(
    "OSTIARY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

#: Sets the CPU affinity, then becomes the server (same pid): ``-c PIN cpu -m ...``.
PIN: Final = (
    "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    rounds: int = 3
    #: Seconds measured per load, after ``warmup`` seconds that are not counted.
    duration: float = 4.0
    warmup: float = 1.0
    #: Keep-alive connections for the GETs, for logins, and for refreshes (one session each).
    connections: int = 32
    login_connections: int = 4
    refresh_connections: int = 16
    #: The bare hash loop: this many seconds, at most ``hash_max`` hashes.
    hash_seconds: float = 2.0
    hash_max: int = 500
    #: Request bound of every load (time is the bound that acts).
    max_requests: int = 1_000_000
    #: Seconds of quiet after the last load before the resident memory is read.
    settle: float = 2.0


QUICK: Final = ServerConfig(rounds=3, duration=1.0, warmup=0.3, hash_seconds=0.5, settle=0.5)


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HashRun:
    """Bare argon2id hashes in this process, on the server's CPU."""

    round: int
    count: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.count / self.wall

    @property
    def cpu_rate(self) -> float:
        return self.count / self.cpu if self.cpu > 0 else self.rate


@dataclass(frozen=True, slots=True)
class Memory:
    """``VmRSS`` and ``VmHWM`` (the peak) of a server process, in MB (10^6 bytes)."""

    rss_mb: float
    peak_mb: float
    #: ``VmRSS`` once the server answered its first request, before any load.
    start_mb: float = 0.0


@dataclass(slots=True)
class ServerReport:
    config: ServerConfig
    placement: str
    hashes: list[HashRun] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    memory: dict[str, Memory] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    #: Why PostgreSQL was left out, if it was.
    skipped: str = ""
    #: Seconds of the calibration loop on the servers' CPU (best of a few).
    calibration: float | None = None

    @property
    def machine_scale(self) -> float:
        """This machine's speed over the reference machine's (1.0 when not measured)."""
        if not self.calibration:
            return 1.0
        return CALIBRATION_REFERENCE_SECONDS / self.calibration

    def of(self, variant: str) -> list[Measurement]:
        return [m for m in self.measurements if m.variant == variant]

    def per_core(self, variant: str) -> float | None:
        """Median over rounds of requests per server CPU-second."""
        known = [m.cpu_rate for m in self.of(variant) if m.cpu_rate is not None]
        return median(known) if known else None

    def login_ratios(self) -> list[float]:
        """Per round: logins per server CPU-s / bare hashes per CPU-s."""
        base = {h.round: h.cpu_rate for h in self.hashes}
        return [
            m.cpu_rate / base[m.round]
            for m in self.of(LOGIN)
            if m.cpu_rate is not None and m.round in base
        ]

    def login_ratio(self) -> float | None:
        """The median over rounds of :meth:`login_ratios`."""
        known = self.login_ratios()
        return median(known) if known else None

    def header(self) -> str:
        c = self.config
        return (
            f"Server: `ostiary serve --demo`, 1 uvicorn worker; {c.rounds} rounds of "
            f"{c.duration:g} s per load after {c.warmup:g} s warm-up; connections: logins "
            f"{c.login_connections}, refreshes {c.refresh_connections} (one session each), "
            f"GETs {c.connections}; {self.placement}; medians over rounds; VmRSS read "
            f"{c.settle:g} s after the last load"
        )

    def table(self, *, markdown: bool = False) -> str:
        headers = [
            "measure",
            "per s",
            "per round",
            "server CPU",
            "per core (/CPU-s)",
            "DB CPU",
            "client CPU",
            "errors",
            "Keycloak per vCPU",
            "vs Keycloak",
            "target",
        ]
        rows = []
        if self.hashes:
            hashes = self.hashes
            rows.append(
                [
                    HASH + " (1 core)",
                    f"{median(h.rate for h in hashes):.1f}",
                    " ".join(f"{h.rate:.1f}" for h in hashes),
                    f"{median(h.cpu / h.wall for h in hashes) * 100:.0f}%",
                    f"{median(h.cpu_rate for h in hashes):.1f}",
                    "-",
                    "-",
                    "0",
                    "-",
                    "-",
                    "(baseline)",
                ]
            )
        for variant in LOADS:
            ms = self.of(variant)
            if not ms:
                continue
            per_core = self.per_core(variant)
            keycloak = KEYCLOAK_PER_VCPU.get(variant)
            precision = "{:.1f}" if variant == LOGIN else "{:.0f}"
            rows.append(
                [
                    _label(variant),
                    precision.format(median(m.rate for m in ms)),
                    " ".join(precision.format(m.rate) for m in ms),
                    _percent([m.result["server_cpu"] for m in ms]),
                    "n/a" if per_core is None else precision.format(per_core),
                    _percent([m.result.get("others_cpu") for m in ms], missing="-"),
                    _percent([m.result["client_cpu"] for m in ms]),
                    str(sum(m.errors for m in ms)),
                    "-" if keycloak is None else f"{keycloak:g}",
                    "-" if keycloak is None or per_core is None else f"{per_core / keycloak:.1f}x",
                    self._target_cell(variant),
                ]
            )
        text = render_table(headers, rows, markdown=markdown)
        if self.memory:
            mem_rows = [
                [
                    f"`ostiary serve`, {name}" if markdown else f"ostiary serve, {name}",
                    ratio(m.start_mb, up=True),
                    ratio(m.rss_mb, up=True),
                    ratio(m.peak_mb, up=True),
                    f"{KEYCLOAK_POD_MB:g}",
                    self._target_cell("memory " + name),
                ]
                for name, m in self.memory.items()
            ]
            mem_headers = [
                "memory",
                "VmRSS at start MB",
                "VmRSS after load MB",
                "VmHWM (peak) MB",
                "Keycloak per pod MB",
            ]
            text += "\n\n" + render_table([*mem_headers, "target"], mem_rows, markdown=markdown)
        if self.skipped:
            text += f"\n\nPostgreSQL left out: {self.skipped}"
        return text

    def _target_cell(self, variant: str) -> str:
        target = next((t for t in self.targets if t.name == _target_name(variant)), None)
        if target is None:
            return "-"
        if variant == LOGIN:
            return f"{ratio(target.value)} of hash >= {target.threshold:g} {target.verdict}"
        sign = "<" if target.below else ">="
        return f"{sign} {target.threshold:g} {target.verdict}"


def _label(variant: str) -> str:
    return {
        LOGIN: f"logins (POST {LOGIN_PATH})",
        REFRESH_SQLITE: "refreshes with rotation, SQLite",
        REFRESH_POSTGRES: "refreshes with rotation, PostgreSQL",
        JWKS: f"JWKS (GET {JWKS_PATH})",
        PROFILE: f"protected route (GET {PROFILE_PATH})",
        SERVICE_TOKEN: f"client_credentials (POST {TOKEN_PATH}), SQLite",
    }[variant]


def _target_name(variant: str) -> str:
    return {
        LOGIN: "server logins per core / bare argon2id hashes per core",
        REFRESH_SQLITE: "server refreshes per core, SQLite (/CPU-s)",
        SERVICE_TOKEN: "server client_credentials grants per core (/CPU-s)",
        "memory SQLite": "server VmRSS after load, SQLite",
    }.get(variant, f"server {variant}")


def _percent(values: Sequence[float | None], *, missing: str = "n/a") -> str:
    known = [v for v in values if v is not None]
    return f"{median(known) * 100:.0f}%" if known else missing


# --- processes --------------------------------------------------------------------------


class OstiaryServer(Server):
    """``python -m ostiary.cli serve --demo`` on a free port, pinned to ``cpu``, with only the
    ``OSTIARY_*`` settings given here (none inherited from the caller's environment)."""

    ready_path = "/healthz"

    def __init__(self, name: str, workdir: Path, cpu: int | None, settings: dict[str, str]) -> None:
        super().__init__(name, workdir, None, cpu)
        self.settings = settings

    def command(self) -> list[str]:
        pin = [] if self.cpu is None else ["-c", PIN, str(self.cpu)]
        serve = ["-m", "ostiary.cli", "serve", "--demo", "--host=127.0.0.1"]
        return [sys.executable, *pin, *serve, f"--port={self.port}"]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in super().environment().items() if not k.startswith("OSTIARY_")}
        return env | self.settings

    def memory(self, start_mb: float = 0.0) -> Memory:
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024 / 1e6  # kB (KiB) to MB
        return Memory(fields["VmRSS"], fields["VmHWM"], start_mb)


def post_json(port: int, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One blocking ``POST`` of a JSON body to 127.0.0.1; the status and the JSON answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        answer = json.loads(data)
    except ValueError:
        answer = {}
    return response.status, answer if isinstance(answer, dict) else {}


def log_in(port: int, password: str) -> dict[str, Any]:
    status, answer = post_json(port, LOGIN_PATH, {"username": USERNAME, "password": password})
    if status != 200 or "refresh_token" not in answer:
        raise RuntimeError(f"login on port {port} answered {status}")
    return answer


def service_token_status(port: int, secret: str) -> int:
    """The status of one client_credentials request of the demo service account."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    credentials = base64.b64encode(f"{SERVICE_CLIENT}:{secret}".encode()).decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": f"Basic {credentials}",
    }
    try:
        conn.request("POST", TOKEN_PATH, "grant_type=client_credentials", headers)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status


def sanity_check(server: OstiaryServer, password: str, service_secret: str = "") -> str:
    """The server does what is measured: logs in, refuses a wrong password, rotates a refresh
    token and refuses its reuse, serves the JWKS, and protects ``/api/profile``. Returns a
    valid access token."""
    port = server.port
    tokens = log_in(port, password)
    wrong, _ = post_json(port, LOGIN_PATH, {"username": USERNAME, "password": password + "x"})
    old = {"refresh_token": tokens["refresh_token"]}
    rotated, answer = post_json(port, REFRESH_PATH, old)
    # The client moves on with the successor: the old token presented again is reuse even
    # within the refresh grace window (on by default), which answers only a retry.
    moved_on, _ = post_json(port, REFRESH_PATH, {"refresh_token": answer.get("refresh_token")})
    reused, _ = post_json(port, REFRESH_PATH, old)
    access = str(log_in(port, password)["access_token"])
    checks = [
        ("wrong password", wrong, 401),
        ("refresh", rotated, 200),
        ("refresh of the successor", moved_on, 200),
        ("reuse of the old refresh token", reused, 400),
        ("JWKS", http_status(port, path=JWKS_PATH), 200),
        ("profile without a token", http_status(port, path=PROFILE_PATH), 401),
        ("profile with a token", http_status(port, access, path=PROFILE_PATH), 200),
        ("client_credentials", service_token_status(port, service_secret), 200),
        ("client_credentials, wrong secret", service_token_status(port, "x" * 43), 401),
    ]
    for what, got, expected in checks:
        if got != expected:
            raise RuntimeError(f"{server.name} server: {what} answered {got}, not {expected}")
    if answer.get("refresh_token") in (None, tokens["refresh_token"]):
        raise RuntimeError(f"{server.name} server: the refresh token was not rotated")
    return access


def start_sessions(server: OstiaryServer, password: str, count: int, path: Path) -> Path:
    """Log in ``count`` times (untimed) and write the refresh tokens to ``path``."""
    tokens = [str(log_in(server.port, password)["refresh_token"]) for _ in range(count)]
    path.write_text("\n".join(tokens) + "\n")
    return path


# --- PostgreSQL -------------------------------------------------------------------------


async def _admin(statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from ostiary.storage.sql import normalize_url

    engine = create_async_engine(
        normalize_url(POSTGRES_ADMIN_URL),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"timeout": 5},
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def create_database() -> tuple[str, str]:
    """A fresh database: its name and its URL for the server."""
    from sqlalchemy.engine import make_url

    name = f"ostiary_bench_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    return name, url.render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- measurements -----------------------------------------------------------------------


def calibrate(cpu: int | None, repeats: int = 3) -> float:
    """Seconds of ``s = 0; for i in range(10**7): s += i`` on ``cpu``, best of ``repeats``:
    how fast this machine runs Python, to scale the absolute targets (docs/benchmarks.md)."""
    before = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            total = 0
            for i in range(10**7):
                total += i
            best = min(best, time.perf_counter() - started)
        return best
    finally:
        os.sched_setaffinity(0, before)


def bare_hashes(config: ServerConfig, round_: int, cpu: int | None) -> HashRun:
    """argon2id hashes with the server's parameters, in this process, on ``cpu``."""
    import argon2

    from ostiary.authn.passwords import (
        OWASP_MEMORY_COST_KIB,
        OWASP_PARALLELISM,
        OWASP_TIME_COST,
    )

    hasher = argon2.PasswordHasher(
        time_cost=OWASP_TIME_COST,
        memory_cost=OWASP_MEMORY_COST_KIB,
        parallelism=OWASP_PARALLELISM,
        hash_len=32,
        salt_len=16,
        type=argon2.Type.ID,
    )
    password = secrets.token_urlsafe(18)
    before = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        hasher.hash(password)  # warm-up: the first allocation of the memory blocks
        count = 0
        cpu_start, start = time.thread_time(), time.perf_counter()
        end = start + config.hash_seconds
        while count < config.hash_max and (count == 0 or time.perf_counter() < end):
            hasher.hash(password)
            count += 1
        wall, used = time.perf_counter() - start, time.thread_time() - cpu_start
    finally:
        os.sched_setaffinity(0, before)
    return HashRun(round_, count, wall, used)


def run_load(
    server: OstiaryServer,
    config: ServerConfig,
    path: str,
    connections: int,
    *,
    cpu: int | None,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks._load",
        f"--port={server.port}",
        f"--path={path}",
        f"--connections={connections}",
        f"--warmup={config.warmup}",
        f"--duration={config.duration}",
        f"--max-requests={config.max_requests}",
        f"--server-pid={server.pid}",
        *([] if cpu is None else [f"--cpu={cpu}"]),
        *extra,
    ]
    return load(command, timeout=config.warmup + config.duration + 60)


@dataclass(slots=True)
class Bench:
    config: ServerConfig
    workdir: Path
    password: str
    server_cpu: int | None
    client_cpu: int | None
    log: Callable[[str], None]
    servers: dict[str, OstiaryServer] = field(default_factory=dict)
    access_token: str = ""
    service_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    database: str = ""
    report: ServerReport | None = None

    def measure(self, variant: str, round_: int) -> Measurement:
        c = self.config
        sqlite = self.servers["SQLite"]
        if variant == LOGIN:
            body = self.workdir / "login.json"
            body.write_text(json.dumps({"username": USERNAME, "password": self.password}))
            extra = ["--method=POST", f"--body-file={body}"]
            result = self._load(sqlite, LOGIN_PATH, c.login_connections, extra)
        elif variant in (REFRESH_SQLITE, REFRESH_POSTGRES):
            server = self.servers["SQLite" if variant == REFRESH_SQLITE else "PostgreSQL"]
            chains = start_sessions(
                server,
                self.password,
                c.refresh_connections,
                self.workdir / f"refresh-{server.name}-{round_}.txt",
            )
            extra = ["--method=POST", f"--refresh-chains={chains}"]
            if variant == REFRESH_POSTGRES:
                extra.append(f"--cpu-of={self.database}")
            result = self._load(server, REFRESH_PATH, c.refresh_connections, extra)
        elif variant == JWKS:
            result = self._load(sqlite, JWKS_PATH, c.connections, [])
        elif variant == SERVICE_TOKEN:
            body = self.workdir / "client-credentials.form"
            body.write_text("grant_type=client_credentials")
            extra = [
                "--method=POST",
                f"--body-file={body}",
                "--content-type=application/x-www-form-urlencoded",
                f"--basic={SERVICE_CLIENT}:{self.service_secret}",
            ]
            result = self._load(sqlite, TOKEN_PATH, c.connections, extra)
        else:
            extra = [f"--token={self.access_token}"]
            result = self._load(sqlite, PROFILE_PATH, c.connections, extra)
        if not result["requests"]:
            raise RuntimeError(f"{variant}: no responses at all ({result})")
        return Measurement(variant, round_, result)

    def _load(
        self, server: OstiaryServer, path: str, connections: int, extra: list[str]
    ) -> dict[str, Any]:
        return run_load(server, self.config, path, connections, cpu=self.client_cpu, extra=extra)


def run(config: ServerConfig, log: Callable[[str], None] = print) -> ServerReport:
    server_cpu, client_cpu = cpu_plan()
    report = ServerReport(config, placement(server_cpu, client_cpu, "servers and bare hashes"))
    report.calibration = calibrate(server_cpu)
    log(
        f"  calibration loop: {report.calibration:.3f} s (reference {CALIBRATION_REFERENCE_SECONDS}"
        f" s): absolute targets x{report.machine_scale:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="ostiary-bench-") as tmp:
        workdir = Path(tmp)
        password = secrets.token_urlsafe(18)
        bench = Bench(config, workdir, password, server_cpu, client_cpu, log)
        from ostiary.keys.encryption import MasterKey

        common = {
            "OSTIARY_MASTER_KEY": MasterKey.new_text(),
            "OSTIARY_DEV_KEY_DIR": str(workdir / "keys"),
            "OSTIARY_DEMO_ALICE_PASSWORD": password,
            "OSTIARY_DEMO_ADMIN_PASSWORD": secrets.token_urlsafe(18),
            "OSTIARY_DEMO_SERVICE_SECRET": bench.service_secret,
            # Rate limiting stays on (its cost is measured) with limits no load here reaches:
            # every request comes from one address, one account and one client.
            **{f"OSTIARY_{name}_RATE_LIMIT": BENCH_RATE_LIMIT for name in RATE_LIMITS},
        }
        sqlite_url = f"sqlite+aiosqlite:///{workdir / 'ostiary.db'}"
        bench.servers["SQLite"] = OstiaryServer(
            "SQLite", workdir, server_cpu, common | {"OSTIARY_DATABASE_URL": sqlite_url}
        )
        try:
            try:
                bench.database, pg_url = create_database()
            except Exception as exc:  # no PostgreSQL here: measure the rest
                report.skipped = f"{type(exc).__name__}: {exc}"
                log(f"  PostgreSQL not usable ({report.skipped}); left out")
            else:
                bench.servers["PostgreSQL"] = OstiaryServer(
                    "PostgreSQL", workdir, server_cpu, common | {"OSTIARY_DATABASE_URL": pg_url}
                )
            _measure_all(bench, report)
        finally:
            for server in bench.servers.values():
                server.stop()
            if bench.database:
                try:
                    drop_database(bench.database)
                except Exception as exc:
                    log(f"  could not drop database {bench.database}: {exc}")
    _set_targets(report)
    return report


def _measure_all(bench: Bench, report: ServerReport) -> None:
    config, log = bench.config, bench.log
    at_start: dict[str, float] = {}
    for name, server in bench.servers.items():
        started = time.perf_counter()
        server.start()
        at_start[name] = server.memory().rss_mb
        token = sanity_check(server, bench.password, bench.service_secret)
        if name == "SQLite":  # the server the protected route is measured on
            bench.access_token = token
        log(
            f"  {name} server up (pid {server.pid}, {time.perf_counter() - started:.1f} s "
            f"with migrations and checks; VmRSS at start {ratio(at_start[name], up=True)} MB)"
        )
    variants = [v for v in LOADS if v != REFRESH_POSTGRES or "PostgreSQL" in bench.servers]
    steps = [HASH, *variants]
    for round_ in range(config.rounds):
        order = steps if round_ % 2 == 0 else steps[::-1]
        for step in order:
            if step == HASH:
                h = bare_hashes(config, round_, bench.server_cpu)
                report.hashes.append(h)
                log(
                    f"  round {round_ + 1}: {HASH:<22} {h.rate:7.1f} /s "
                    f"({h.count} in {h.wall:.2f} s, {h.cpu_rate:.1f} per CPU-s)"
                )
                continue
            m = bench.measure(step, round_)
            report.measurements.append(m)
            r = m.result
            problem = m.problem()
            db = f", DB CPU {_percent([r['others_cpu']])}" if r.get("others_cpu") else ""
            per_core = "n/a" if m.cpu_rate is None else f"{m.cpu_rate:.1f}"
            log(
                f"  round {round_ + 1}: {step:<22} {m.rate:7.1f} /s "
                f"({r['requests']} in {r['window']:.2f} s, server CPU "
                f"{_percent([r['server_cpu']])} = {per_core} per CPU-s{db}, "
                f"client CPU {_percent([r['client_cpu']])})"
                + (f"  ERRORS: {problem}" if problem else "")
            )
    ratios = " ".join(ratio(r) for r in report.login_ratios())
    log(f"  logins per core / bare hashes per core, per round: {ratios}")
    time.sleep(config.settle)
    for name, server in bench.servers.items():
        mem = report.memory[name] = server.memory(at_start[name])
        log(
            f"  {name} server after load: VmRSS {ratio(mem.rss_mb, up=True)} MB, "
            f"peak {ratio(mem.peak_mb, up=True)} MB"
        )


def _set_targets(report: ServerReport) -> None:
    def problems(variant: str) -> str:
        return "; ".join(p for m in report.of(variant) if (p := m.problem()))

    login = report.login_ratio()
    if login is not None and report.hashes:
        report.targets.append(Target(_target_name(LOGIN), login, LOGIN_TARGET, problems(LOGIN)))
    scale = report.machine_scale
    scaled = f" (target scaled by this machine's speed, x{scale:.2f})" if scale != 1.0 else ""
    refresh = report.per_core(REFRESH_SQLITE)
    if refresh is not None:
        report.targets.append(
            Target(
                _target_name(REFRESH_SQLITE) + scaled,
                refresh,
                round(REFRESH_TARGET * scale),
                problems(REFRESH_SQLITE),
            )
        )
    postgres = report.per_core(REFRESH_POSTGRES)
    if refresh and postgres is not None:
        report.targets.append(
            Target(
                "refreshes per server CPU-second, PostgreSQL / SQLite",
                postgres / refresh,
                POSTGRES_REFRESH_TARGET,
                problems(REFRESH_POSTGRES),
            )
        )
    service = report.per_core(SERVICE_TOKEN)
    if service is not None:
        report.targets.append(
            Target(
                _target_name(SERVICE_TOKEN) + scaled,
                service,
                round(SERVICE_TOKEN_TARGET * scale),
                problems(SERVICE_TOKEN),
            )
        )
    sqlite_memory = report.memory.get("SQLite")
    if sqlite_memory is not None:
        report.targets.append(
            Target(
                _target_name("memory SQLite"),
                sqlite_memory.rss_mb,
                MEMORY_TARGET_MB,
                below=True,
                unit=" MB",
            )
        )
