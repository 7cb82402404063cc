"""HTTP: what ``BearerAuthMiddleware`` costs a FastAPI app served by uvicorn.

Two servers run side by side, each its own process with one uvicorn worker (uvloop,
httptools, no access log) on 127.0.0.1: the same one-route FastAPI app, once unprotected and
once behind ``ostiary.resource.fastapi.install(app, verifier)``. The load comes from another
process (:mod:`benchmarks._load`: keep-alive connections, closed loop, time- and
request-bounded). Three measurements make a round: unprotected; protected with one repeated
valid token (a verifier cache hit after the first request); protected with a fresh token on
every request (pre-minted, never seen by the server: a full ES256 verification each time).
The unprotected server gets the very request the protected one gets, ``Authorization``
header included, so that the middleware is the only difference.

Rounds alternate their order; rates are medians over rounds, and ratios are computed within
each round, then the median taken. Every non-200 response is counted as an error. Beside the
rate, requests per second of *server CPU time* (from ``/proc``) are shown: on a shared
machine another process may take CPU from the server, which lowers its rate but not the CPU
cost of a request. With two CPUs or more, the servers run on one CPU and the load generator
on another (``sched_setaffinity``), so that they never take turns on the same one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks._common import ROOT, Target, median, ratio, render_table
from benchmarks._server import PATH
from benchmarks.tokens import mint
from ostiary.jose import DEFAULT_ALGORITHM, JWK, JWKSet

UNPROTECTED: Final = "unprotected"
REPEATED: Final = "protected, repeated token"
DISTINCT: Final = "protected, distinct tokens"
VARIANTS: Final = (UNPROTECTED, REPEATED, DISTINCT)
REPEATED_TARGET: Final = 0.85
READY_TIMEOUT: Final = 30.0


@dataclass(frozen=True, slots=True)
class HttpConfig:
    rounds: int = 3
    #: Seconds measured, after ``warmup`` seconds of load that are not counted.
    duration: float = 5.0
    warmup: float = 1.0
    connections: int = 32
    #: Request bound of a distinct-token measurement (and tokens minted for it, per round).
    distinct_requests: int = 9_000
    distinct_warmup: int = 1_000
    #: Request bound of the other measurements (time is the bound that acts).
    max_requests: int = 1_000_000


QUICK: Final = HttpConfig(
    rounds=3, duration=1.5, warmup=0.5, distinct_requests=2_000, distinct_warmup=300
)


@dataclass(frozen=True, slots=True)
class Measurement:
    variant: str
    round: int
    result: dict[str, Any]

    @property
    def rate(self) -> float:
        return float(self.result["rate"])

    @property
    def cpu_rate(self) -> float | None:
        """Requests per second of server CPU time: the inverse of a request's CPU cost, which
        (unlike the rate) does not drop when other processes take CPU from the server."""
        busy = self.result["server_cpu"]
        return self.rate / busy if busy else None

    @property
    def errors(self) -> int:
        r = self.result
        return int(r["non_200"]) + int(r["connection_errors"]) + int(r["protocol_errors"])

    def problem(self) -> str:
        r = self.result
        parts = []
        if r["non_200"]:
            parts.append(f"{r['non_200']} non-200 responses")
        if r["connection_errors"] or r["protocol_errors"]:
            parts.append(f"{r['connection_errors'] + r['protocol_errors']} connection errors")
        if r["timed_out"]:
            parts.append("timed out")
        if not r["requests"]:
            parts.append("no responses")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class HttpReport:
    measurements: list[Measurement]
    targets: list[Target]
    config: HttpConfig
    #: Where the processes ran, e.g. "servers on CPU 0, load generator on CPU 1".
    placement: str = "no CPU pinning"

    def of(self, variant: str) -> list[Measurement]:
        return [m for m in self.measurements if m.variant == variant]

    def ratio(self, variant: str) -> float:
        """Median over rounds of (variant's rate / unprotected rate in the same round)."""
        base = {m.round: m.rate for m in self.of(UNPROTECTED)}
        return median(m.rate / base[m.round] for m in self.of(variant) if base[m.round] > 0)

    def cpu_ratio(self, variant: str) -> float | None:
        """The same with requests per server CPU-second; None without /proc."""
        base = {m.round: m.cpu_rate for m in self.of(UNPROTECTED)}
        pairs = [(m.cpu_rate, base[m.round]) for m in self.of(variant)]
        known = [a / b for a, b in pairs if a is not None and b]
        return median(known) if known else None

    def header(self) -> str:
        c = self.config
        return (
            f"HTTP: uvicorn, 1 worker (uvloop, httptools), GET {PATH}; {c.connections} "
            f"keep-alive connections; {c.rounds} rounds of {c.duration:g} s after {c.warmup:g} s "
            f"warm-up (distinct tokens: at most {c.distinct_requests} requests); "
            f"{self.placement}; medians"
        )

    def table(self, *, markdown: bool = False) -> str:
        headers = [
            "variant",
            "req/s",
            "per round",
            "vs unprotected",
            "req/CPU-s",
            "vs unprotected (CPU)",
            "errors",
            "server CPU",
            "client CPU",
            "target",
        ]
        rows = []
        for variant in VARIANTS:
            ms = self.of(variant)
            target = next((t for t in self.targets if t.name == _target_name(variant)), None)
            rows.append(
                [
                    variant,
                    f"{median(m.rate for m in ms):.0f}",
                    " ".join(f"{m.rate:.0f}" for m in ms),
                    ratio(self.ratio(variant)),
                    _optional(median_known([m.cpu_rate for m in ms]), "{:.0f}"),
                    _optional(self.cpu_ratio(variant), None),
                    str(sum(m.errors for m in ms)),
                    _percent([m.result["server_cpu"] for m in ms]),
                    _percent([m.result["client_cpu"] for m in ms]),
                    f">= {target.threshold:g} {target.verdict}" if target else "-",
                ]
            )
        return render_table(headers, rows, markdown=markdown)


def _target_name(variant: str) -> str:
    return f"http {variant} / unprotected"


def median_known(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return median(known) if known else None


def _optional(value: float | None, form: str | None) -> str:
    if value is None:
        return "n/a"
    return form.format(value) if form else ratio(value)


def _percent(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{median(known) * 100:.0f}%" if known else "n/a"


# --- processes --------------------------------------------------------------------------


def cpu_plan() -> tuple[int | None, int | None]:
    """CPUs for the servers and for the load generator: two different ones when this process
    may use two or more, so that they do not take turns on one CPU; else no pinning."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def placement(server_cpu: int | None, client_cpu: int | None, servers: str) -> str:
    """Where the processes of a bench run, for its header."""
    if server_cpu is None:
        return "no CPU pinning (one CPU)"
    return f"{servers} on CPU {server_cpu}, load generator on CPU {client_cpu}"


def _cpu_arg(cpu: int | None) -> list[str]:
    return [] if cpu is None else [f"--cpu={cpu}"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_status(
    port: int,
    token: str | None = None,
    *,
    timeout: float = 5.0,
    path: str = PATH,
    headers: Sequence[tuple[str, str]] = (),
) -> int:
    """One blocking GET to 127.0.0.1 (``Connection: close``); the response's status."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    auth += "".join(f"{name}: {value}\r\n" for name, value in headers)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request.encode())
        data = b""
        while len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/1.1 "):
        raise ConnectionError("no HTTP response")
    return int(data[9:12])


class Server:
    """One uvicorn process running :mod:`benchmarks._server` (subclasses run another
    command: :meth:`command`, :meth:`environment`, :attr:`ready_path`)."""

    #: Answered (whatever the status) once the server is up.
    ready_path: str = PATH

    def __init__(self, name: str, workdir: Path, jwks: Path | None, cpu: int | None) -> None:
        self.name = name
        self.jwks = jwks
        self.cpu = cpu
        self.log_path = workdir / f"server-{name.replace(' ', '-')}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "benchmarks._server", f"--port={self.port}"]
        command += _cpu_arg(self.cpu)
        if self.jwks is not None:
            command += ["--jwks", str(self.jwks)]
        return command

    def environment(self) -> dict[str, str]:
        return _env()

    def start(self) -> None:
        """Start on a free port and wait until it answers; a few tries, as another process
        may take the port between our choosing it and uvicorn binding it."""
        for attempt in range(3):
            self.port = _free_port()
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    self.command(),
                    cwd=ROOT,
                    env=self.environment(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready():
                return
            self.stop()
            if attempt == 2:
                raise RuntimeError(
                    f"the {self.name} server did not start:\n{self.log_path.read_text()[-2000:]}"
                )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                http_status(self.port, timeout=1.0, path=self.ready_path)
            except OSError:
                time.sleep(0.1)
                continue
            return True
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def run_load(
    server: Server,
    config: HttpConfig,
    *,
    token: str | None = None,
    tokens_file: Path | None = None,
    proofs_file: Path | None = None,
    offset: int = 0,
    cpu: int | None = None,
) -> dict[str, Any]:
    """One measurement: ``token`` on every request, or a token of ``tokens_file`` each, or
    ``token`` with the ``DPoP`` scheme and a proof of ``proofs_file`` each."""
    command = [
        sys.executable,
        "-m",
        "benchmarks._load",
        f"--port={server.port}",
        f"--path={PATH}",
        f"--connections={config.connections}",
        f"--warmup={config.warmup}",
        f"--duration={config.duration}",
        f"--server-pid={server.pid}",
        *_cpu_arg(cpu),
    ]
    if tokens_file is not None or proofs_file is not None:
        count = config.distinct_warmup + config.distinct_requests
        if tokens_file is not None:
            command.append(f"--tokens-file={tokens_file}")
        else:
            command += [f"--token={token}", f"--dpop-proofs={proofs_file}"]
        command += [
            f"--offset={offset}",
            f"--count={count}",
            f"--warmup-max={config.distinct_warmup}",
            f"--max-requests={config.distinct_requests}",
        ]
    else:
        command.append(f"--max-requests={config.max_requests}")
        if token is not None:
            command.append(f"--token={token}")
    return load(command, timeout=config.warmup + config.duration + 60)


def load(command: Sequence[str], *, timeout: float) -> dict[str, Any]:
    """Run the load generator ``command`` (``python -m benchmarks._load ...``); its result."""
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the bench --------------------------------------------------------------------------


def sanity_check(plain: Server, protected: Server, token: str) -> None:
    """The protected server really refuses requests without a valid token, and both serve 200."""
    damaged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    expected = [
        (plain, None, 200),
        (protected, None, 401),
        (protected, damaged, 401),
        (protected, token, 200),
    ]
    for server, sent, status in expected:
        got = http_status(server.port, sent)
        if got != status:
            raise RuntimeError(f"{server.name} server answered {got}, expected {status}")


def run(config: HttpConfig, log: Callable[[str], None] = print) -> HttpReport:
    with tempfile.TemporaryDirectory(prefix="ostiary-bench-") as tmp:
        workdir = Path(tmp)
        key = JWK.generate(DEFAULT_ALGORITHM)
        jwks = workdir / "jwks.json"
        jwks.write_text(json.dumps(JWKSet([key.public()]).public_document()))
        started = time.perf_counter()
        per_round = config.distinct_warmup + config.distinct_requests
        pool = mint(key, config.rounds * per_round)
        tokens_file = workdir / "tokens.txt"
        tokens_file.write_text("\n".join(pool))
        repeated_token = mint(key, 1)[0]
        log(
            f"  minted {len(pool) + 1} {DEFAULT_ALGORITHM} tokens in "
            f"{time.perf_counter() - started:.1f} s"
        )
        server_cpu, client_cpu = cpu_plan()
        servers = [
            Server("unprotected", workdir, None, server_cpu),
            Server("protected", workdir, jwks, server_cpu),
        ]
        try:
            for server in servers:
                server.start()
            plain, protected = servers
            sanity_check(plain, protected, repeated_token)
            log(f"  servers up: unprotected pid {plain.pid}, protected pid {protected.pid}")
            measurements: list[Measurement] = []
            for round_ in range(config.rounds):
                order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    if variant == UNPROTECTED:
                        # The very same request: only the middleware differs.
                        result = run_load(plain, config, token=repeated_token, cpu=client_cpu)
                    elif variant == REPEATED:
                        result = run_load(protected, config, token=repeated_token, cpu=client_cpu)
                    else:
                        result = run_load(
                            protected,
                            config,
                            tokens_file=tokens_file,
                            offset=round_ * per_round,
                            cpu=client_cpu,
                        )
                    m = Measurement(variant, round_, result)
                    if not result["requests"]:
                        raise RuntimeError(f"{variant}: no responses at all ({result})")
                    measurements.append(m)
                    problem = m.problem()
                    log(
                        f"  round {round_ + 1}: {variant:<27} {m.rate:7.0f} req/s "
                        f"({result['requests']} in {result['window']:.2f} s, "
                        f"server CPU {_percent([result['server_cpu']])} "
                        f"= {_optional(m.cpu_rate, '{:.0f}')} req/CPU-s, "
                        f"client CPU {_percent([result['client_cpu']])})"
                        + (f"  ERRORS: {problem}" if problem else "")
                    )
        finally:
            for server in servers:
                server.stop()
    placement = (
        f"servers on CPU {server_cpu}, load generator on CPU {client_cpu}"
        if server_cpu is not None
        else "no CPU pinning (one CPU)"
    )
    report = HttpReport(measurements, [], config, placement)
    problems = "; ".join(
        p for m in measurements if m.variant in (UNPROTECTED, REPEATED) and (p := m.problem())
    )
    target = Target(_target_name(REPEATED), report.ratio(REPEATED), REPEATED_TARGET, problems)
    return HttpReport(measurements, [target], config, placement)
