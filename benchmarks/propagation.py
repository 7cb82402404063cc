"""Propagation: how long after a logout's answer a revoked access token is refused elsewhere.

Two ``ostiary serve --demo`` processes, A and B (started as :mod:`benchmarks.server` starts
its servers, on free loopback ports, with only the ``OSTIARY_*`` settings given here), share
one PostgreSQL database (created by the bench and dropped at the end) and Redis
(``redis://127.0.0.1:6379/0``), with ``OSTIARY_REVOCATION_SYNC_SECONDS=60``: within a run,
only the notification channel can explain a fast refusal. A third process is a resource
service (:mod:`benchmarks._resource`) following A's ``GET /auth/revocations/stream`` with a
client registered for the feed (``ostiary clients create ... --scope revocations:read``).

For each logout, untimed: log in as ``alice`` on A, check that the access token works where
it will be refused (B's ``GET /auth/me``, or the service's ``GET /orders``: 200, which also
puts it in that verifier's cache). Then ``POST /auth/logout`` on A, and from the moment its
204 is read, ``GET`` the same route again and again on one keep-alive connection until it
answers 401, at most ``timeout`` seconds (a timeout counts as a miss). The figure is the time
from the logout's answer to the first 401; its resolution is one request's round trip.

Without a reachable Redis the instances hear of revocations by PostgreSQL ``NOTIFY``;
without PostgreSQL they share an SQLite file (``PRAGMA data_version``, every 0.1 s): the
table says which channel carried the notices. Every process is stopped and the database
dropped at the end, also on failure.
"""

from __future__ import annotations

import http.client
import json
import math
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from benchmarks import _resource
from benchmarks._common import ROOT, Target, median, render_table
from benchmarks.http import Server, _env
from benchmarks.server import (
    BENCH_RATE_LIMIT,
    RATE_LIMITS,
    OstiaryServer,
    create_database,
    drop_database,
    log_in,
)

REDIS_URL: Final = "redis://127.0.0.1:6379/0"
SYNC_SECONDS: Final = "60"
ME_PATH: Final = "/auth/me"
LOGOUT_PATH: Final = "/auth/logout"
FEED_CLIENT: Final = "bench-orders"

INSTANCES: Final = "instance → instance"
SERVICE: Final = "server → resource service"
INSTANCES_TARGET_MS: Final = 100.0
SERVICE_TARGET_MS: Final = 500.0
#: Seconds a resource service is given to connect to the stream.
CONNECT_TIMEOUT: Final = 15.0


@dataclass(frozen=True, slots=True)
class PropagationConfig:
    #: Logouts measured per path (each after one untimed warm-up logout).
    logouts: int = 100
    #: Seconds of polling per logout before it counts as a miss.
    timeout: float = 5.0


QUICK: Final = PropagationConfig(logouts=50)


# --- results ----------------------------------------------------------------------------


@dataclass(slots=True)
class Leg:
    """The logouts of one path: seconds from each logout's answer to the first 401 (None:
    not within the timeout), the polls each took, and the round trip of every poll."""

    name: str
    channel: str
    target_ms: float
    delays: list[float | None] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)

    @property
    def missed(self) -> int:
        return sum(d is None for d in self.delays)

    def seconds(self, timeout: float) -> list[float]:
        """Every delay, a miss counted as the whole timeout."""
        return sorted(timeout if d is None else d for d in self.delays)


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least ``p`` % of the values at or below it."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass(slots=True)
class PropagationReport:
    config: PropagationConfig
    paths: list[Leg] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def header(self) -> str:
        c = self.config
        return (
            f"Propagation: {c.logouts} logouts per path (after one untimed), time from the "
            f"logout's answer (POST {LOGOUT_PATH} on A) to the first 401 on the other side, "
            f"polled on one keep-alive connection; timeout {c.timeout:g} s per logout; "
            f"OSTIARY_REVOCATION_SYNC_SECONDS={SYNC_SECONDS}"
            + "".join(f"; {n}" for n in self.notes)
        )

    def table(self, *, markdown: bool = False) -> str:
        headers = [
            "path",
            "channel",
            "logouts",
            "p50 ms",
            "p99 ms",
            "max ms",
            "timeouts",
            "polls to 401 (median)",
            "poll round trip ms (median)",
            "target",
        ]
        rows = []
        for path in self.paths:
            if not path.delays:
                continue
            ordered = path.seconds(self.config.timeout)
            target = next((t for t in self.targets if t.name.startswith(path.name)), None)
            rows.append(
                [
                    path.name,
                    path.channel,
                    str(len(path.delays)),
                    f"{percentile(ordered, 50) * 1000:.1f}",
                    f"{percentile(ordered, 99) * 1000:.1f}",
                    f"{ordered[-1] * 1000:.1f}",
                    str(path.missed),
                    f"{median(path.polls):g}" if path.polls else "-",
                    f"{median(path.round_trips) * 1000:.2f}" if path.round_trips else "-",
                    "-" if target is None else f"p99 < {target.threshold:g} {target.verdict}",
                ]
            )
        return render_table(headers, rows, markdown=markdown)


# --- HTTP -------------------------------------------------------------------------------


class Poller:
    """Blocking ``GET``s of one route with one token, on one keep-alive connection to
    127.0.0.1 (opened again if the server closed it)."""

    def __init__(self, port: int, path: str, token: str, timeout: float) -> None:
        self.port = port
        self.path = path
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        #: The body of the last answer.
        self.body = b""

    def status(self) -> int:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", self.path, headers=self.headers)
                response = self.conn.getresponse()
                self.body = response.read()
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
                continue
            if response.will_close:
                self.close()
            return response.status
        raise AssertionError("unreachable")

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


def log_out(port: int, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", LOGOUT_PATH, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status


def get_json(port: int, path: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        data = conn.getresponse().read()
    finally:
        conn.close()
    answer = json.loads(data)
    return answer if isinstance(answer, dict) else {}


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    """Whether Redis answers ``PING`` on ``host:port`` within a second."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# --- processes --------------------------------------------------------------------------


class ResourceService(Server):
    """:mod:`benchmarks._resource` on a free port, following ``issuer``'s stream."""

    ready_path = _resource.HEALTH_PATH

    def __init__(self, workdir: Path, issuer: str, client_id: str, secret: str) -> None:
        super().__init__("resource-service", workdir, None, None)
        self.issuer = issuer
        self.client_id = client_id
        self.secret = secret

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "benchmarks._resource",
            f"--port={self.port}",
            f"--issuer={self.issuer}",
            f"--client-id={self.client_id}",
        ]

    def environment(self) -> dict[str, str]:
        return _env() | {_resource.SECRET_ENV: self.secret}


def register_feed_client(settings: dict[str, str], issuer: str) -> str:
    """``ostiary clients create`` of a client for the revocation feed; its secret."""
    env = {k: v for k, v in _env().items() if not k.startswith("OSTIARY_")}
    env |= settings | {"OSTIARY_ISSUER": issuer}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ostiary.cli",
            "clients",
            "create",
            "Bench orders API",
            f"--id={FEED_CLIENT}",
            "--scope=revocations:read",
            f"--audience={issuer}/auth/revocations",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ostiary clients create failed:\n{done.stderr[-2000:]}")
    return str(json.loads(done.stdout)["client_secret"])


# --- measurements -----------------------------------------------------------------------


def measure(
    path: Leg,
    config: PropagationConfig,
    password: str,
    auth_port: int,
    port: int,
    route: str,
    log: Callable[[str], None],
) -> None:
    """One untimed logout, then ``config.logouts`` timed ones."""
    for n in range(config.logouts + 1):
        token = str(log_in(auth_port, password)["access_token"])
        poller = Poller(port, route, token, config.timeout)
        try:
            before = poller.status()
            if before != 200:
                raise RuntimeError(f"{path.name}: the fresh token answered {before}, not 200")
            status = log_out(auth_port, token)
            if status != 204:
                raise RuntimeError(f"{path.name}: the logout answered {status}, not 204")
            answered = time.perf_counter()
            deadline = answered + config.timeout
            delay: float | None = None
            polls = 0
            trips = []
            while True:
                sent = time.perf_counter()
                status = poller.status()
                now = time.perf_counter()
                polls += 1
                trips.append(now - sent)
                if status == 401:
                    if b"revoked" not in poller.body:  # refused for another reason
                        raise RuntimeError(f"{path.name}: 401 {poller.body[:200]!r}")
                    delay = now - answered
                    break
                if status != 200:
                    raise RuntimeError(f"{path.name}: a poll answered {status}")
                if now >= deadline:
                    break
        finally:
            poller.close()
        if n == 0:
            continue  # the warm-up
        path.delays.append(delay)
        path.polls.append(polls)
        path.round_trips.extend(trips)
    ordered = path.seconds(config.timeout)
    log(
        f"  {path.name} ({path.channel}): {len(path.delays)} logouts, p50 "
        f"{percentile(ordered, 50) * 1000:.1f} ms, p99 {percentile(ordered, 99) * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms, {path.missed} not refused within {config.timeout:g} s"
    )


def wait_connected(service: ResourceService) -> None:
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while time.monotonic() < deadline:
        if get_json(service.port, _resource.HEALTH_PATH).get("connected"):
            return
        time.sleep(0.05)
    state = get_json(service.port, _resource.HEALTH_PATH)
    raise RuntimeError(f"the resource service did not connect to the stream: {state}")


def run(config: PropagationConfig, log: Callable[[str], None] = print) -> PropagationReport:
    report = PropagationReport(config)
    with tempfile.TemporaryDirectory(prefix="ostiary-bench-") as tmp:
        workdir = Path(tmp)
        password = secrets.token_urlsafe(18)
        from ostiary.keys.encryption import MasterKey

        settings = {
            "OSTIARY_MASTER_KEY": MasterKey.new_text(),
            "OSTIARY_DEV_KEY_DIR": str(workdir / "keys"),
            "OSTIARY_DEMO_ALICE_PASSWORD": password,
            "OSTIARY_DEMO_ADMIN_PASSWORD": secrets.token_urlsafe(18),
            "OSTIARY_DEMO_SERVICE_SECRET": secrets.token_urlsafe(32),
            "OSTIARY_REVOCATION_SYNC_SECONDS": SYNC_SECONDS,
            **{f"OSTIARY_{name}_RATE_LIMIT": BENCH_RATE_LIMIT for name in RATE_LIMITS},
        }
        database = ""
        processes: list[Server] = []
        try:
            try:
                database, url = create_database()
                channel = "PostgreSQL NOTIFY"
            except Exception as exc:  # no PostgreSQL here: two processes on one SQLite file
                url = f"sqlite+aiosqlite:///{workdir / 'ostiary.db'}"
                channel = "SQLite data_version"
                report.notes.append(f"PostgreSQL not usable ({type(exc).__name__}): SQLite")
                log(f"  PostgreSQL not usable ({exc}); the instances share an SQLite file")
            settings["OSTIARY_DATABASE_URL"] = url
            if redis_answers():
                settings["OSTIARY_REDIS_URL"] = REDIS_URL
                channel = "Redis pub/sub"
            else:
                report.notes.append("Redis not reachable")
                log(f"  Redis does not answer at {REDIS_URL}; notices by {channel}")
            first = OstiaryServer("A", workdir, None, dict(settings))
            processes.append(first)
            first.start()  # migrates and seeds; B starts on a ready database
            issuer = f"http://127.0.0.1:{first.port}"
            settings["OSTIARY_ISSUER"] = issuer
            second = OstiaryServer("B", workdir, None, dict(settings))
            processes.append(second)
            second.start()
            log(f"  A (pid {first.pid}) and B (pid {second.pid}) up; issuer {issuer}")
            secret = register_feed_client(settings, issuer)
            service = ResourceService(workdir, issuer, FEED_CLIENT, secret)
            processes.append(service)
            service.start()
            wait_connected(service)
            log(f"  resource service (pid {service.pid}) up, following A's stream")

            instances = Leg(INSTANCES, channel, INSTANCES_TARGET_MS)
            report.paths.append(instances)
            measure(instances, config, password, first.port, second.port, ME_PATH, log)
            stream = Leg(SERVICE, "SSE stream", SERVICE_TARGET_MS)
            report.paths.append(stream)
            measure(stream, config, password, first.port, service.port, _resource.PATH, log)
        finally:
            for process in reversed(processes):
                process.stop()
            if database:
                try:
                    drop_database(database)
                except Exception as exc:
                    log(f"  could not drop database {database}: {exc}")
    _set_targets(report)
    return report


def _set_targets(report: PropagationReport) -> None:
    timeout = report.config.timeout
    for path in report.paths:
        if not path.delays:
            continue
        missed = path.missed
        report.targets.append(
            Target(
                f"{path.name} ({path.channel}), p99 from logout to 401",
                percentile(path.seconds(timeout), 99) * 1000,
                path.target_ms,
                invalid=f"{missed} logouts not refused within {timeout:g} s" if missed else "",
                below=True,
                unit=" ms",
            )
        )
