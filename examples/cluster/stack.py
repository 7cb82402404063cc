"""Start the cluster the way an operator would deploy it, in order:

1. ``ostiary db upgrade`` once, on the demo's database;
2. the user ``alice`` (``ostiary users create --password-stdin``) and the service's client
   for the revocation feed (``ostiary clients create ... --scope revocations:read``);
3. ``ostiary serve`` three times, every instance with the same ``OSTIARY_ISSUER`` (the proxy's
   URL), ``OSTIARY_MASTER_KEY``, ``OSTIARY_DATABASE_URL`` and ``OSTIARY_REDIS_URL``; the first
   alone, so that it makes the signing keys the others then find;
4. HAProxy in front (``haproxy.cfg``), then the resource service (``service.py``), ready once
   it follows the revocation stream through the proxy.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from examples.cluster.prerequisites import HOST, haproxy_binary
from examples.cluster.processes import Process, ostiary, run_cli, start

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parents[1]
USERNAME: Final = "alice"
SERVICE_CLIENT_ID: Final = "orders-api"
INSTANCES: Final = 3


def local_url(port: int) -> str:
    return f"http://{HOST}:{port}"


@dataclass(frozen=True)
class Layout:
    """Where everything goes: the ports, the database and Redis."""

    proxy_port: int
    instance_ports: tuple[int, ...]
    service_port: int
    postgres_url: str
    database_url: str
    redis_url: str

    @property
    def issuer(self) -> str:
        """The proxy's URL: the one address clients and services know."""
        return local_url(self.proxy_port)

    @property
    def service_url(self) -> str:
        return local_url(self.service_port)

    def instance_urls(self) -> list[str]:
        return [local_url(port) for port in self.instance_ports]


@dataclass
class Cluster:
    """The running processes (the caller stops them, also after a failed start)."""

    layout: Layout
    workdir: Path
    password: str
    processes: list[Process] = field(default_factory=list)


def server_environment(layout: Layout) -> dict[str, str]:
    """What every instance, and every ``ostiary`` command, shares; other ``OSTIARY_*``
    settings of the caller's environment pass through."""
    return {
        **os.environ,
        "OSTIARY_ISSUER": layout.issuer,
        # 32 random bytes in base64url, what `ostiary keys master-key` prints.
        "OSTIARY_MASTER_KEY": secrets.token_urlsafe(32),
        "OSTIARY_DATABASE_URL": layout.database_url,
        "OSTIARY_REDIS_URL": layout.redis_url,
    }


def start_cluster(cluster: Cluster) -> None:
    """Everything, in order, each process added to ``cluster.processes`` as soon as it runs."""
    layout, workdir = cluster.layout, cluster.workdir
    env = server_environment(layout)
    run_cli(["db", "upgrade"], env=env, workdir=workdir)
    run_cli(
        ["users", "create", USERNAME, "--password-stdin"],
        env=env,
        workdir=workdir,
        stdin=cluster.password + "\n",
    )
    registered = run_cli(
        [
            *("clients", "create", "Orders service", "--id", SERVICE_CLIENT_ID),
            *("--scope", "revocations:read", "--audience", f"{layout.issuer}/auth/revocations"),
        ],
        env=env,
        workdir=workdir,
    )
    instances = []
    for index, port in enumerate(layout.instance_ports, start=1):
        serve = ostiary("serve", "--host", HOST, "--port", str(port))
        command = [*serve, "--forwarded-allow-ips", HOST]  # believe the proxy's X-Forwarded-*
        instance = start(
            f"instance-{index}", command, url=local_url(port), env=env, workdir=workdir
        )
        cluster.processes.append(instance)
        instances.append(instance)
        if index == 1:
            wait_ready(instance)
    for instance in instances[1:]:
        wait_ready(instance)

    proxy = start_proxy(layout, workdir)
    cluster.processes.append(proxy)
    proxy.wait_until("/readyz", lambda answer: answer.status_code == 200)

    service = start_service(layout, workdir, str(registered["client_secret"]))
    cluster.processes.append(service)
    service.wait_until("/healthz", lambda answer: answer.json().get("connected") is True)


def wait_ready(instance: Process) -> None:
    instance.wait_until("/readyz", ready)


def ready(answer: httpx.Response) -> bool:
    return answer.status_code == 200 and answer.json() == {"status": "ready"}


def start_proxy(layout: Layout, workdir: Path) -> Process:
    ports = {f"INSTANCE_{i}": f"{HOST}:{p}" for i, p in enumerate(layout.instance_ports, 1)}
    env = {**os.environ, "PROXY_BIND": f"{HOST}:{layout.proxy_port}", **ports}
    command = [haproxy_binary(), "-f", str(HERE / "haproxy.cfg"), "-db"]
    return start("proxy", command, url=layout.issuer, env=env, workdir=workdir)


def start_service(layout: Layout, workdir: Path, secret: str) -> Process:
    env = {
        **os.environ,
        "ISSUER": layout.issuer,
        "SERVICE_AUDIENCE": os.environ.get("OSTIARY_AUDIENCE", "api"),
        "SERVICE_CLIENT_ID": SERVICE_CLIENT_ID,
        "SERVICE_CLIENT_SECRET": secret,
    }
    command = [
        *(sys.executable, "-m", "uvicorn", "--factory", "examples.cluster.service:create_app"),
        *("--app-dir", str(ROOT), "--host", HOST, "--port", str(layout.service_port)),
    ]
    return start("service", command, url=layout.service_url, env=env, workdir=workdir)
