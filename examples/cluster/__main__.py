"""Three ``ostiary serve`` instances on PostgreSQL and Redis behind HAProxy, and a resource
service following the revocation stream: ``python examples/cluster/run.py``.

It checks what it needs (haproxy, PostgreSQL, Redis, free ports), creates a database of its
own, starts everything (see :mod:`examples.cluster.stack`), prints where each part listens and
a curl walkthrough, and runs until Ctrl-C (or SIGTERM): then it stops every process (SIGTERM,
SIGKILL after 10 s) and drops the database. With ``--check`` it runs the walkthrough itself,
prints what it saw, stops, and exits 0 only if everything behaved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Final

from examples.cluster import database, prerequisites
from examples.cluster.check import run_check
from examples.cluster.database import DatabaseError
from examples.cluster.prerequisites import Missing
from examples.cluster.processes import StartupFailed, first_exited
from examples.cluster.stack import INSTANCES, Cluster, Layout, start_cluster
from examples.cluster.walkthrough import describe, walkthrough

DEFAULT_POSTGRES_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE: Final = "ostiary_cluster_demo"
READY: Final = "Ready. Press Ctrl-C to stop."
DESCRIPTION: Final = (
    "Three ostiary serve instances on PostgreSQL and Redis behind HAProxy, and a resource "
    "service following the revocation stream; a curl walkthrough shows a logout reaching "
    "them all. Runs until Ctrl-C, then stops everything and drops its database."
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run.py", description=(__doc__ or "").split("\n\n", 1)[0])

    def option(name: str, env: str, default: str, what: str) -> None:
        value = os.environ.get(env, default)
        shown = default or "free ports"
        parser.add_argument(name, default=value, help=f"{what} (env {env}; default {shown})")

    option("--postgres-url", "CLUSTER_POSTGRES_URL", DEFAULT_POSTGRES_URL, "PostgreSQL admin URL")
    option("--database", "CLUSTER_DATABASE", DEFAULT_DATABASE, "the demo's database, made here")
    option("--redis-url", "CLUSTER_REDIS_URL", DEFAULT_REDIS_URL, "Redis")
    option("--proxy-port", "CLUSTER_PROXY_PORT", "8080", "HAProxy's port")
    option("--service-port", "CLUSTER_SERVICE_PORT", "8090", "the resource service's port")
    option("--instance-ports", "CLUSTER_INSTANCE_PORTS", "", f"{INSTANCES} ports, comma-separated")
    parser.add_argument(
        "--check",
        action="store_true",
        help="run the walkthrough, print what it saw, stop; exit 0 only if all went well",
    )
    return parser.parse_args(argv)


def layout_of(args: argparse.Namespace) -> Layout:
    """The layout, once every prerequisite is there; :class:`Missing` names all that is not."""
    try:
        proxy_port, service_port = int(args.proxy_port), int(args.service_port)
        chosen = [int(p) for p in args.instance_ports.split(",") if p.strip()]
    except ValueError:
        raise Missing("a port is not a number (see --help)") from None
    if chosen and len(chosen) != INSTANCES:
        raise Missing(f"--instance-ports wants {INSTANCES} ports, not {len(chosen)}")
    instance_ports = chosen or prerequisites.free_ports(INSTANCES)
    named = [("proxy", proxy_port), ("service", service_port)]
    named += [(f"instance-{i}", port) for i, port in enumerate(instance_ports, start=1)]
    problems: list[str] = []
    version = ""
    for check in (
        prerequisites.haproxy_binary,
        lambda: prerequisites.check_ports(named),
        lambda: prerequisites.check_redis(args.redis_url),
    ):
        try:
            check()
        except Missing as missing:
            problems.append(str(missing))
    try:
        version = prerequisites.check_postgres(args.postgres_url)
    except Missing as missing:
        problems.append(str(missing))
    if problems:
        raise Missing("\n".join(f"- {problem}" for problem in problems))
    print(f"PostgreSQL {version.split()[0]}, Redis and haproxy found; ports free.", flush=True)
    return Layout(
        proxy_port=proxy_port,
        instance_ports=tuple(instance_ports),
        service_port=service_port,
        postgres_url=args.postgres_url,
        database_url=database.instance_url(args.postgres_url, args.database),
        redis_url=args.redis_url,
    )


def interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the cluster as Ctrl-C does."""
    raise KeyboardInterrupt


def run(cluster: Cluster, *, check: bool) -> int:
    start_cluster(cluster)
    print(describe(cluster))
    print(walkthrough(cluster), flush=True)
    if check:
        return 0 if asyncio.run(run_check(cluster)) else 1
    print(READY, flush=True)
    while (dead := first_exited(cluster.processes)) is None:
        time.sleep(0.5)
    print(f"{dead.name} exited:\n{dead.log_tail()}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        layout = layout_of(args)
    except Missing as missing:
        print(f"Cannot start the cluster:\n{missing}", file=sys.stderr)
        return 2
    name = args.database
    with tempfile.TemporaryDirectory(prefix="ostiary-cluster-") as tmp:
        password = os.environ.get("CLUSTER_ALICE_PASSWORD") or secrets.token_urlsafe(15)
        cluster = Cluster(layout, Path(tmp), password)
        created = False
        try:
            database.create(args.postgres_url, name)
            created = True
            return run(cluster, check=args.check)
        except (StartupFailed, DatabaseError) as exc:
            print(f"Cannot start the cluster: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nStopping.", flush=True)
            return 0
        finally:
            # A second Ctrl-C would leave processes or the database behind; every stop is
            # bounded (SIGKILL after 10 s) anyway.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            stop(cluster, created=created, name=name)


def stop(cluster: Cluster, *, created: bool, name: str) -> None:
    for process in reversed(cluster.processes):
        process.stop()
    if created:
        try:
            database.drop(cluster.layout.postgres_url, name)
        except DatabaseError as exc:
            command = database.drop_command(cluster.layout.postgres_url, name)
            print(f"Could not drop the database {name} ({exc}); drop it: {command}")
        else:
            print(f"Stopped every process; dropped the database {name}.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
