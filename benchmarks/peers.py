"""Side by side with panva's oidc-provider: ``python -m benchmarks peers`` (issue 11 §1).

Three servers, in one run, on the same machine, each pinned to the same CPU in turn and loaded
by the same generator (:mod:`benchmarks._load`) pinned to the other CPU:

- **oidc-provider** 9.x (npm, installed into ``benchmarks/node/node_modules``, which git
  ignores), ``NODE_ENV=production``, in-memory adapter, one confidential client
  (``client_secret_basic``, ``client_credentials`` only) whose access tokens are JWTs signed
  ES256 for one resource server (``resourceIndicators``):
  ``benchmarks/node/oidc_provider_server.mjs``.
- **Ostiary**: ``ostiary serve --demo`` on SQLite, every layer on (rate limiting with limits no
  load here reaches, audit trail, access log, security headers, request limits), the demo
  service account ``demo-service`` with the same scope and audience.
- **the floor**: a bare Starlette app under the same uvicorn settings, serving the very bytes
  of Ostiary's JWKS (``benchmarks/_jwks_floor.py``).

Measured per server: ``client_credentials`` grants (``POST`` with ``scope=reports:read`` and
HTTP Basic client authentication) and ``GET`` of the JWKS; rate, p50/p99 latency, the server's
CPU share (rates are also given per server CPU-second) and its resident memory after the load.
Rounds alternate the order of the servers. Ratios are against oidc-provider's figure of the
same run. Nothing is asserted: targets print PASS or MISS.

docs/benchmarks.md says what is and is not equivalent between the three.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from benchmarks._common import ROOT, Target, median, ratio, render_table
from benchmarks.http import Measurement, Server, cpu_plan, load, placement
from benchmarks.server import (
    BENCH_RATE_LIMIT,
    JWKS_PATH,
    PIN,
    RATE_LIMITS,
    SERVICE_CLIENT,
    TOKEN_PATH,
    OstiaryServer,
)

NODE_DIR: Final = ROOT / "benchmarks" / "node"
PEER_SCRIPT: Final = NODE_DIR / "oidc_provider_server.mjs"
PEER_PACKAGE: Final = "oidc-provider"
PEER_CLIENT: Final = "bench-service"
AUDIENCE: Final = "https://api.example"
SCOPE: Final = "reports:read"
NPM_TIMEOUT: Final = 300.0

GRANTS: Final = "client_credentials grants"
JWKS: Final = "JWKS GETs"
LOADS: Final = (GRANTS, JWKS)
PEER: Final = "oidc-provider"
OSTIARY: Final = "Ostiary"
FLOOR: Final = "bare Starlette"

GRANTS_TARGET: Final = 1.5  # Ostiary's grants per second / oidc-provider's
JWKS_TARGET: Final = 1.0
MEMORY_TARGET: Final = 0.75  # Ostiary's VmRSS after load / oidc-provider's, at most
#: A server that got less of its core than this in a run was sharing it with something else.
BUSY_CPU_SHARE: Final = 0.9


@dataclass(frozen=True, slots=True)
class PeersConfig:
    rounds: int = 3
    duration: float = 4.0
    warmup: float = 1.0
    connections: int = 32
    max_requests: int = 1_000_000
    #: Seconds of quiet after the last load before the resident memory is read.
    settle: float = 2.0


QUICK: Final = PeersConfig(rounds=2, duration=1.0, warmup=0.3, settle=0.5)


# --- the servers ---------------------------------------------------------------------------


class OidcProvider(Server):
    """``node oidc_provider_server.mjs PORT SECRET``, pinned to ``cpu`` with ``taskset``."""

    ready_path = "/jwks"

    def __init__(self, workdir: Path, cpu: int | None, secret: str) -> None:
        super().__init__(PEER, workdir, None, cpu)
        self.secret = secret

    def command(self) -> list[str]:
        node = shutil.which("node") or "node"
        pin = [] if self.cpu is None else ["taskset", "-c", str(self.cpu)]
        return [*pin, node, str(PEER_SCRIPT), str(self.port), self.secret]

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "NODE_ENV": "production", "BENCH_AUDIENCE": AUDIENCE}


class JWKSFloor(Server):
    """:mod:`benchmarks._jwks_floor`: the bytes of ``jwks`` at ``JWKS_PATH``."""

    ready_path = JWKS_PATH

    def __init__(self, workdir: Path, cpu: int | None, jwks: Path) -> None:
        super().__init__(FLOOR, workdir, None, cpu)
        self.jwks_bytes = jwks

    def command(self) -> list[str]:
        pin = [] if self.cpu is None else ["-c", PIN, str(self.cpu)]
        module = ["-m", "benchmarks._jwks_floor", f"--port={self.port}"]
        return [sys.executable, *pin, *module, f"--jwks={self.jwks_bytes}"]


def rss_mb(pid: int) -> float:
    """The resident set of process ``pid`` (``VmRSS``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            return int(value.split()[0]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for pid {pid}")


def install_peer() -> str:
    """``npm install`` in benchmarks/node when oidc-provider is missing or not the pinned
    version; returns the version installed. RuntimeError without node/npm or on a failure."""
    wanted = str(json.loads((NODE_DIR / "package.json").read_text())["dependencies"][PEER_PACKAGE])
    manifest = NODE_DIR / "node_modules" / PEER_PACKAGE / "package.json"

    def installed() -> str | None:
        try:
            return str(json.loads(manifest.read_text())["version"])
        except (OSError, ValueError, KeyError):
            return None

    if installed() != wanted:
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise RuntimeError("node and npm are needed for the oidc-provider peer")
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
        )
        if done.returncode != 0 or installed() != wanted:
            raise RuntimeError(f"npm install of {PEER_PACKAGE} failed: {done.stderr[-2000:]}")
    return wanted


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run(Measurement):
    """One load on one server (``variant`` is the load)."""

    server: str = ""

    @property
    def load(self) -> str:
        return self.variant


@dataclass(slots=True)
class PeersReport:
    config: PeersConfig
    placement: str
    peer_version: str = ""
    runs: list[Run] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    def of(self, server: str, load_: str) -> list[Run]:
        return [r for r in self.runs if r.server == server and r.load == load_]

    def rate(self, server: str, load_: str) -> float | None:
        runs = self.of(server, load_)
        return median(r.rate for r in runs) if runs else None

    def header(self) -> str:
        c = self.config
        return (
            f"Side by side with oidc-provider {self.peer_version} ({c.rounds} rounds of "
            f"{c.duration:g} s after {c.warmup:g} s warm-up, {c.connections} keep-alive "
            f"connections; {self.placement}; medians; ratios against oidc-provider)"
        )

    def table(self, *, markdown: bool = False) -> str:
        rows: list[list[str]] = []
        for load_ in LOADS:
            base = self.rate(PEER, load_)
            for server in (PEER, OSTIARY, FLOOR):
                runs = self.of(server, load_)
                if not runs:
                    continue
                rate = median(r.rate for r in runs)
                per_cpu = [c for r in runs if (c := r.cpu_rate) is not None]
                cpu = [r.result["server_cpu"] for r in runs if r.result.get("server_cpu")]
                lat = [r.result["latency_ms"] for r in runs if r.result.get("latency_ms")]
                rows.append(
                    [
                        load_,
                        server,
                        f"{rate:.0f}",
                        ratio(rate / base) if base else "n/a",
                        f"{median(per_cpu):.0f}" if per_cpu else "n/a",
                        f"{median(cpu) * 100:.0f}%" if cpu else "n/a",
                        f"{median(x['p50'] for x in lat):.2f}" if lat else "n/a",
                        f"{median(x['p99'] for x in lat):.2f}" if lat else "n/a",
                        "; ".join(p for r in runs if (p := r.problem())) or "-",
                    ]
                )
        for server, mb in self.memory.items():
            peer = self.memory.get(PEER)
            share = ratio(mb / peer, up=True) if peer else "n/a"
            rows.append(["VmRSS after load (MB)", server, f"{mb:.1f}", share, *["-"] * 5])
        head = ["measure", "server", "rate /s", "x peer", "per CPU-s", "CPU", "p50 ms"]
        table = render_table([*head, "p99 ms", "errors"], rows, markdown=markdown)
        return "\n".join([table, "", *self.notes()])

    def notes(self) -> list[str]:
        """The cross-check of the rate ratios: the same ratios per second of server CPU time,
        which another process taking CPU from a server does not move; and how many runs had
        a server short of CPU (then the rates compare CPU shares as much as servers: a busy
        machine gives more of a core to Node's several threads than to Python's one)."""
        ratios = []
        for load_ in LOADS:
            ours = [c for r in self.of(OSTIARY, load_) if (c := r.cpu_rate) is not None]
            peer = [c for r in self.of(PEER, load_) if (c := r.cpu_rate) is not None]
            if ours and peer:
                ratios.append(f"{load_} {median(ours) / median(peer):.2f}x")
        lines = []
        if ratios:
            lines.append("Ostiary / oidc-provider per server CPU-second: " + ", ".join(ratios))
        short = [r for r in self.runs if (r.result.get("server_cpu") or 0) < BUSY_CPU_SHARE]
        if short:
            lines.append(
                f"{len(short)} of {len(self.runs)} runs had a server under "
                f"{BUSY_CPU_SHARE:.0%} of its core: the machine was busy, and their rates "
                "say as much about the CPU share each server got as about the servers"
            )
        return lines


def _set_targets(report: PeersReport) -> None:
    for load_, threshold in ((GRANTS, GRANTS_TARGET), (JWKS, JWKS_TARGET)):
        ours, peer = report.rate(OSTIARY, load_), report.rate(PEER, load_)
        if ours is None or not peer:
            continue
        problems = "; ".join(
            p for s in (OSTIARY, PEER) for r in report.of(s, load_) if (p := r.problem())
        )
        report.targets.append(
            Target(f"peers: Ostiary {load_} / oidc-provider's", ours / peer, threshold, problems)
        )
    ours_mb, peer_mb = report.memory.get(OSTIARY), report.memory.get(PEER)
    if ours_mb is not None and peer_mb:
        report.targets.append(
            Target(
                "peers: Ostiary VmRSS after load / oidc-provider's",
                ours_mb / peer_mb,
                MEMORY_TARGET,
                below=True,
            )
        )


# --- the run --------------------------------------------------------------------------------


def _sanity(port: int, *, basic: str, jwks_path: str) -> None:
    """Each server answers a grant with a JWT access token and serves its JWKS."""
    import base64
    import http.client

    credentials = base64.b64encode(basic.encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            TOKEN_PATH if jwks_path == JWKS_PATH else "/token",
            f"grant_type=client_credentials&scope={SCOPE}",
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"Basic {credentials}",
            },
        )
        answer = conn.getresponse()
        body = json.loads(answer.read())
        conn.request("GET", jwks_path)
        keys = conn.getresponse()
        keys.read()
    finally:
        conn.close()
    token = body.get("access_token", "") if isinstance(body, dict) else ""
    if answer.status != 200 or token.count(".") != 2 or keys.status != 200:
        raise RuntimeError(f"port {port}: grant {answer.status} {body}, JWKS {keys.status}")


def _load(
    server: Server, config: PeersConfig, path: str, cpu: int | None, extra: Sequence[str] = ()
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks._load",
        f"--port={server.port}",
        f"--path={path}",
        f"--connections={config.connections}",
        f"--warmup={config.warmup}",
        f"--duration={config.duration}",
        f"--max-requests={config.max_requests}",
        f"--server-pid={server.pid}",
        *([] if cpu is None else [f"--cpu={cpu}"]),
        *extra,
    ]
    return load(command, timeout=config.warmup + config.duration + 60)


def run(config: PeersConfig, log: Callable[[str], None] = print) -> PeersReport:
    server_cpu, client_cpu = cpu_plan()
    report = PeersReport(config, placement(server_cpu, client_cpu, "each server in turn"))
    report.peer_version = install_peer()
    with tempfile.TemporaryDirectory(prefix="ostiary-bench-peers-") as tmp:
        workdir = Path(tmp)
        from ostiary.keys.encryption import MasterKey

        peer_secret, our_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        ostiary = OstiaryServer(
            OSTIARY,
            workdir,
            server_cpu,
            {
                "OSTIARY_MASTER_KEY": MasterKey.new_text(),
                "OSTIARY_DEV_KEY_DIR": str(workdir / "keys"),
                "OSTIARY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'ostiary.db'}",
                "OSTIARY_AUDIENCE": AUDIENCE,
                "OSTIARY_DEMO_ALICE_PASSWORD": secrets.token_urlsafe(18),
                "OSTIARY_DEMO_ADMIN_PASSWORD": secrets.token_urlsafe(18),
                "OSTIARY_DEMO_SERVICE_SECRET": our_secret,
                **{f"OSTIARY_{name}_RATE_LIMIT": BENCH_RATE_LIMIT for name in RATE_LIMITS},
            },
        )
        peer = OidcProvider(workdir, server_cpu, peer_secret)
        started: list[Server] = []
        try:
            for first in (peer, ostiary):
                first.start()
                started.append(first)
            _sanity(peer.port, basic=f"{PEER_CLIENT}:{peer_secret}", jwks_path="/jwks")
            _sanity(ostiary.port, basic=f"{SERVICE_CLIENT}:{our_secret}", jwks_path=JWKS_PATH)
            jwks = workdir / "jwks.json"
            jwks.write_bytes(_get(ostiary.port, JWKS_PATH))
            floor = JWKSFloor(workdir, server_cpu, jwks)
            floor.start()
            started.append(floor)
            log(f"  up: oidc-provider {report.peer_version}, Ostiary, the floor")
            form = workdir / "grant.form"
            form.write_text(f"grant_type=client_credentials&scope={SCOPE}")
            grant = ["--method=POST", f"--body-file={form}"]
            grant.append("--content-type=application/x-www-form-urlencoded")
            plans: list[tuple[Server, str, str, list[str]]] = [
                (peer, GRANTS, "/token", [*grant, f"--basic={PEER_CLIENT}:{peer_secret}"]),
                (ostiary, GRANTS, TOKEN_PATH, [*grant, f"--basic={SERVICE_CLIENT}:{our_secret}"]),
                (peer, JWKS, "/jwks", []),
                (ostiary, JWKS, JWKS_PATH, []),
                (floor, JWKS, JWKS_PATH, []),
            ]
            for round_ in range(config.rounds):
                for loaded, load_, path, extra in plans if round_ % 2 == 0 else plans[::-1]:
                    result = _load(loaded, config, path, client_cpu, extra)
                    run_ = Run(load_, round_, result, server=loaded.name)
                    report.runs.append(run_)
                    lat = result.get("latency_ms") or {}
                    log(
                        f"  round {round_ + 1}: {loaded.name:<15} {load_:<26} "
                        f"{run_.rate:8.1f} /s  p50 {lat.get('p50', 0):.2f} ms  "
                        f"p99 {lat.get('p99', 0):.2f} ms  server CPU "
                        f"{(result.get('server_cpu') or 0) * 100:.0f}%"
                        + (f"  ERRORS: {p}" if (p := run_.problem()) else "")
                    )
            time.sleep(config.settle)
            for one in started:
                report.memory[one.name] = rss_mb(one.pid)
        finally:
            for one in started:
                one.stop()
    _set_targets(report)
    return report


def _get(port: int, path: str) -> bytes:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        body = answer.read()
    finally:
        conn.close()
    if answer.status != 200:
        raise RuntimeError(f"GET {path} answered {answer.status}")
    return body


if __name__ == "__main__":  # pragma: no cover - for a quick look: python -m benchmarks.peers
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    report = run(QUICK)
    print(report.header())
    print(report.table())
    for target in report.targets:
        print(target.line())
