"""Workers: refresh rotations per second of server CPU time, ``ostiary serve --workers 2``
against ``--workers 1`` in the same run.

Two real servers (``ostiary serve --demo``, SQLite, a database file each, default settings
but rate limits out of reach, as in :mod:`benchmarks.server`) run side by side, neither pinned
(two workers need two CPUs); the load generator (:mod:`benchmarks._load`) sends refresh chains
(each connection presents the token the previous answer returned, so every request rotates a
live token). Rounds alternate which server goes first. The server CPU is the sum over the
supervisor and its workers (``/proc``, ``--server-tree``): per CPU-second, what a second worker
costs or saves beyond the CPU it adds (the shared rate-limit counters in the database, the
SQLite write lock taken in turns by two processes, the notices of each other's commits).
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from benchmarks._common import render_table
from benchmarks.http import Measurement
from benchmarks.server import (
    BENCH_RATE_LIMIT,
    RATE_LIMITS,
    REFRESH_PATH,
    OstiaryServer,
    ServerConfig,
    run_load,
    sanity_check,
    start_sessions,
)

VARIANTS: Final = (1, 2)
READY_WAIT: Final = 60.0


@dataclass(frozen=True, slots=True)
class WorkersConfig:
    rounds: int = 3
    duration: float = 4.0
    warmup: float = 1.0
    refresh_connections: int = 16


QUICK: Final = WorkersConfig(rounds=3, duration=1.5, warmup=0.5)


class WorkersServer(OstiaryServer):
    """``ostiary serve --demo --workers N``, unpinned."""

    def __init__(self, workers: int, workdir: Path, settings: dict[str, str]) -> None:
        super().__init__(f"workers-{workers}", workdir, None, settings)
        self.workers = workers

    def command(self) -> list[str]:
        return [*super().command(), f"--workers={self.workers}"]

    def wait_for_workers(self) -> None:
        """``/healthz`` answers once one worker is up: wait for every one of them."""
        deadline = time.monotonic() + READY_WAIT
        while time.monotonic() < deadline:
            log = self.log_path.read_text(errors="replace")
            if log.count("Application startup complete") >= self.workers:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: not every worker started in {READY_WAIT} s")


@dataclass(slots=True)
class WorkersReport:
    config: WorkersConfig
    measurements: list[Measurement] = field(default_factory=list)

    def per_cpu(self, workers: int) -> float | None:
        rates = [
            m.cpu_rate
            for m in self.measurements
            if m.variant == _name(workers) and m.cpu_rate is not None
        ]
        return statistics.median(rates) if rates else None

    def wall(self, workers: int) -> float:
        return statistics.median(m.rate for m in self.measurements if m.variant == _name(workers))

    def ratio(self) -> float | None:
        one, two = self.per_cpu(1), self.per_cpu(2)
        return two / one if one and two else None

    def header(self) -> str:
        c = self.config
        return (
            f"Workers: refreshes per server CPU-second, --workers 2 against --workers 1 "
            f"(SQLite; {c.rounds} rounds of {c.duration:g} s, {c.refresh_connections} "
            "connections; server CPU = supervisor + workers)"
        )

    def table(self, *, markdown: bool = False) -> str:
        rows = []
        for workers in VARIANTS:
            per_cpu = self.per_cpu(workers)
            rows.append(
                [
                    f"--workers {workers}",
                    f"{self.wall(workers):.0f}",
                    "n/a" if per_cpu is None else f"{per_cpu:.0f}",
                ]
            )
        ratio = self.ratio()
        rows.append(["ratio 2 / 1", "", "n/a" if ratio is None else f"{ratio:.2f}"])
        return render_table(
            ["server", "refreshes/s (wall)", "refreshes per server CPU-s"],
            rows,
            markdown=markdown,
        )


def _name(workers: int) -> str:
    return f"--workers {workers}"


def run(config: WorkersConfig, log: Callable[[str], None] = print) -> WorkersReport:
    from ostiary.keys.encryption import MasterKey

    report = WorkersReport(config)
    load_config = ServerConfig(duration=config.duration, warmup=config.warmup)
    with tempfile.TemporaryDirectory(prefix="ostiary-bench-workers-") as tmp:
        workdir = Path(tmp)
        password = secrets.token_urlsafe(18)
        service_secret = secrets.token_urlsafe(32)
        servers: dict[int, WorkersServer] = {}
        try:
            for workers in VARIANTS:
                own = workdir / f"w{workers}"
                own.mkdir()
                settings = {
                    "OSTIARY_MASTER_KEY": MasterKey.new_text(),
                    "OSTIARY_DEMO_ALICE_PASSWORD": password,
                    "OSTIARY_DEMO_ADMIN_PASSWORD": secrets.token_urlsafe(18),
                    "OSTIARY_DEMO_SERVICE_SECRET": service_secret,
                    "OSTIARY_DATABASE_URL": f"sqlite+aiosqlite:///{own / 'ostiary.db'}",
                    **{f"OSTIARY_{name}_RATE_LIMIT": BENCH_RATE_LIMIT for name in RATE_LIMITS},
                }
                server = servers[workers] = WorkersServer(workers, own, settings)
                server.start()
                server.wait_for_workers()
                sanity_check(server, password, service_secret)
                log(f"  --workers {workers} server up (supervisor pid {server.pid})")
            for round_ in range(config.rounds):
                order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
                for workers in order:
                    server = servers[workers]
                    chains = start_sessions(
                        server,
                        password,
                        config.refresh_connections,
                        workdir / f"chains-{workers}-{round_}.txt",
                    )
                    extra = ["--method=POST", f"--refresh-chains={chains}", "--server-tree"]
                    result = run_load(
                        server,
                        load_config,
                        REFRESH_PATH,
                        config.refresh_connections,
                        cpu=None,
                        extra=extra,
                    )
                    m = Measurement(_name(workers), round_, result)
                    report.measurements.append(m)
                    per_cpu = "n/a" if m.cpu_rate is None else f"{m.cpu_rate:.0f}"
                    problem = m.problem()
                    log(
                        f"  round {round_ + 1}: --workers {workers}: {m.rate:7.1f} /s, "
                        f"{per_cpu} per server CPU-s" + (f"  ERRORS: {problem}" if problem else "")
                    )
        finally:
            for server in servers.values():
                server.stop()
    ratio = report.ratio()
    log(f"  per-CPU ratio --workers 2 / --workers 1: {'n/a' if ratio is None else f'{ratio:.2f}'}")
    return report
