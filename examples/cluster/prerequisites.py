"""What the cluster needs before anything starts, each check saying plainly what is missing:
the ``haproxy`` binary, PostgreSQL and Redis answering, and the ports free."""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import redis
from sqlalchemy.engine import make_url

from examples.cluster.database import DatabaseError, server_version

HOST: Final = "127.0.0.1"
#: Where Debian's package puts it; ``/usr/sbin`` is not on every user's ``PATH``.
DEBIAN_HAPROXY: Final = Path("/usr/sbin/haproxy")
CONNECT_TIMEOUT: Final = 3.0


class Missing(RuntimeError):
    """A prerequisite is missing; the message says which and what to do."""


def haproxy_binary() -> str:
    found = shutil.which("haproxy")
    if found is not None:
        return found
    if DEBIAN_HAPROXY.exists():
        return str(DEBIAN_HAPROXY)
    raise Missing("haproxy is not installed (Debian/Ubuntu: sudo apt-get install haproxy)")


def check_postgres(admin_url: str) -> str:
    """Connect to ``admin_url``; PostgreSQL's version, or :class:`Missing`."""
    try:
        return server_version(admin_url)
    except DatabaseError as exc:
        where = make_url(admin_url).render_as_string(hide_password=True)
        raise Missing(
            f"PostgreSQL does not answer at {where}: {exc}\n"
            "  Start it, or give another server with --postgres-url (or CLUSTER_POSTGRES_URL)."
        ) from exc


def check_redis(url: str) -> None:
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        raise Missing(
            f"Redis does not answer at {url}: {exc}\n"
            "  Start it, or give another with --redis-url (or CLUSTER_REDIS_URL)."
        ) from exc
    finally:
        client.close()


def check_ports(ports: Sequence[tuple[str, int]]) -> None:
    """Refuse ports in use: a server already there would answer in place of ours."""
    numbers = [port for _, port in ports]
    if len(set(numbers)) != len(numbers):
        raise Missing(f"the ports must differ: {', '.join(f'{n} {p}' for n, p in ports)}")
    taken = [f"{name} port {port}" for name, port in ports if not port_free(port)]
    if taken:
        raise Missing(
            f"{', '.join(taken)} on {HOST}: address already in use.\n"
            "  Stop what listens there, or choose other ports (see --help)."
        )


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_ports(count: int) -> list[int]:
    """Distinct ports nothing listens on now (the instances take theirs a moment later):
    every socket stays bound until all are chosen."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
