"""Run the auth server, inventory and orders together: ``python examples/microservices/run.py``.

1. In a temporary directory, register the service account ``orders`` (client credentials,
   scope ``inventory:read``, audience ``https://inventory.example``) with
   ``ostiary clients create``; its secret is shown once and handed to orders.
2. Start ``ostiary serve --demo`` there (a fresh master key, alice's password from
   ``OSTIARY_DEMO_ALICE_PASSWORD`` or made up), then inventory and orders with uvicorn.
3. Print a curl walkthrough, and stop everything on Ctrl-C (or SIGTERM).

Ports: ``--auth-port``, ``--inventory-port``, ``--orders-port`` (or ``AUTH_PORT``,
``INVENTORY_PORT``, ``ORDERS_PORT``); 8000, 8101 and 8102 by default. Everything listens on
127.0.0.1 only. Each process writes its log to ``<temporary directory>/<name>.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final

import httpx

HERE: Final = Path(__file__).resolve().parent
HOST: Final = "127.0.0.1"
USER_AUDIENCE: Final = "api"
INVENTORY_AUDIENCE: Final = "https://inventory.example"
ORDERS_CLIENT_ID: Final = "orders"
STARTUP_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 10.0


class StartupFailed(RuntimeError):
    """A process exited, or did not answer in time, while the stack was starting."""


@dataclass(frozen=True)
class Service:
    """One running process of the stack."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    #: Answers 200 once the service is ready.
    ready_path: str

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with httpx.Client(base_url=self.url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise StartupFailed(f"{self.name} exited during start-up:\n{self.log_tail()}")
                try:
                    if client.get(self.ready_path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise StartupFailed(f"{self.name} was not ready in {STARTUP_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def port_option(parser: argparse.ArgumentParser, name: str, env: str, default: int) -> None:
    parser.add_argument(
        f"--{name}-port",
        type=int,
        default=int(os.environ.get(env, default)),
        help=f"the {name} port (env {env}, default {default})",
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    port_option(parser, "auth", "AUTH_PORT", 8000)
    port_option(parser, "inventory", "INVENTORY_PORT", 8101)
    port_option(parser, "orders", "ORDERS_PORT", 8102)
    return parser.parse_args(argv)


def check_free(ports: Sequence[int]) -> None:
    """Refuse ports already in use: a server already there (``make run`` on 8000) would
    otherwise answer in place of ours."""
    if len(set(ports)) != len(ports):
        raise StartupFailed(f"the ports must differ: {ports}")
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                sock.bind((HOST, port))
            except OSError:
                raise StartupFailed(f"port {port}: address already in use") from None


def local_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def start(
    name: str,
    command: list[str],
    *,
    port: int,
    ready_path: str = "/healthz",
    env: Mapping[str, str],
    workdir: Path,
) -> Service:
    """Start ``command`` in ``workdir``, its output going to ``<name>.log`` there."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:  # the child has its own copy of the descriptor
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    return Service(name, process, local_url(port), log, ready_path)


def register_orders(env: Mapping[str, str], workdir: Path) -> str:
    """Register the service account ``orders``; return its secret (the CLI shows it once)."""
    command = [
        *ostiary("clients", "create", "Orders service"),
        *("--id", ORDERS_CLIENT_ID, "--grant-type", "client_credentials"),
        *("--scope", "inventory:read", "--audience", INVENTORY_AUDIENCE),
    ]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise StartupFailed(f"ostiary clients create failed:\n{done.stderr.decode()}")
    secret: str = json.loads(done.stdout)["client_secret"]
    return secret


def ostiary(*args: str) -> list[str]:
    """The ``ostiary`` command of this Python environment."""
    return [sys.executable, "-m", "ostiary.cli", *args]


def uvicorn_command(factory: str, port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir", str(HERE)),
        *("--host", HOST, "--port", str(port)),
    ]


def start_stack(args: argparse.Namespace, workdir: Path, services: list[Service]) -> str:
    """Start the three processes, each added to ``services`` (to be stopped) as soon as it
    runs; return the walkthrough."""
    check_free([args.auth_port, args.inventory_port, args.orders_port])
    auth_url = local_url(args.auth_port)
    alice_password = os.environ.get("OSTIARY_DEMO_ALICE_PASSWORD") or secrets.token_urlsafe(12)
    auth_env = {
        **os.environ,
        "OSTIARY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'ostiary.db'}",
        "OSTIARY_ISSUER": auth_url,
        "OSTIARY_AUDIENCE": USER_AUDIENCE,
        # 32 random bytes in base64url, what `ostiary keys master-key` prints.
        "OSTIARY_MASTER_KEY": secrets.token_urlsafe(32),
        "OSTIARY_DEMO_ALICE_PASSWORD": alice_password,
    }
    orders_secret = register_orders(auth_env, workdir)
    serve = ostiary("serve", "--demo", "--host", HOST, "--port", str(args.auth_port))
    auth = start(
        "auth", serve, port=args.auth_port, ready_path="/readyz", env=auth_env, workdir=workdir
    )
    services.append(auth)

    # The services need the auth server only at their first request: they start meanwhile.
    inventory_env = {
        **os.environ,
        "AUTH_URL": auth_url,
        "INVENTORY_AUDIENCE": INVENTORY_AUDIENCE,
    }
    orders_env = {
        **inventory_env,
        "USER_AUDIENCE": USER_AUDIENCE,
        "INVENTORY_URL": local_url(args.inventory_port),
        "ORDERS_CLIENT_ID": ORDERS_CLIENT_ID,
        "ORDERS_CLIENT_SECRET": orders_secret,
    }
    for name, port, env in [
        ("inventory", args.inventory_port, inventory_env),
        ("orders", args.orders_port, orders_env),
    ]:
        command = uvicorn_command(f"{name}:create_app", port)
        services.append(start(name, command, port=port, env=env, workdir=workdir))
    for service in services:
        service.wait_until_ready()
    return walkthrough(
        auth_url,
        local_url(args.inventory_port),
        local_url(args.orders_port),
        alice_password=alice_password,
        orders_secret=orders_secret,
    )


WALKTHROUGH: Final = r"""
Try it from another shell (needs curl and python3):

  export ALICE_PASSWORD=@ALICE@
  export ORDERS_SECRET=@SECRET@
  field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

  # 1. Alice logs in at the auth server: her token is for "api" and the account API
  USER_TOKEN=$(curl -s @AUTH@/auth/login -H 'Content-Type: application/json' \
    -d "{\"username\": \"alice\", \"password\": \"$ALICE_PASSWORD\"}" | field access_token)

  # 2. Orders accepts it, and asks inventory with its own token ("caller": "orders")
  curl -s @ORDERS@/orders/1 -H "Authorization: Bearer $USER_TOKEN"; echo

  # 3. Inventory refuses alice's token: it was not issued for inventory
  curl -s -w ' %{http_code}\n' @INVENTORY@/stock/sku-1 \
    -H "Authorization: Bearer $USER_TOKEN"                          # 401 wrong audience

  # 4. No token, no order
  curl -s -o /dev/null -w '%{http_code}\n' @ORDERS@/orders/1           # 401

  # 5. What orders does: a token of its own (client credentials), then inventory
  SERVICE_TOKEN=$(curl -s -u "orders:$ORDERS_SECRET" @AUTH@/oauth/token \
    -d grant_type=client_credentials -d scope=inventory:read \
    -d resource=@AUDIENCE@ | field access_token)
  curl -s @INVENTORY@/stock/sku-3 -H "Authorization: Bearer $SERVICE_TOKEN"; echo
"""


def walkthrough(
    auth_url: str, inventory_url: str, orders_url: str, *, alice_password: str, orders_secret: str
) -> str:
    replacements = {
        "@ALICE@": shlex.quote(alice_password),
        "@SECRET@": shlex.quote(orders_secret),
        "@AUTH@": auth_url,
        "@INVENTORY@": inventory_url,
        "@ORDERS@": orders_url,
        "@AUDIENCE@": INVENTORY_AUDIENCE,
    }
    text = WALKTHROUGH
    for marker, value in replacements.items():
        text = text.replace(marker, value)
    return text


def interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the stack as Ctrl-C does."""
    raise KeyboardInterrupt


def wait_for_exit(services: Sequence[Service]) -> Service:
    """Block until one of ``services`` exits (which it should not); return it."""
    while True:
        for service in services:
            if service.process.poll() is not None:
                return service
        time.sleep(0.5)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    services: list[Service] = []
    with tempfile.TemporaryDirectory(prefix="ostiary-microservices-") as tmp:
        workdir = Path(tmp)
        try:
            print(start_stack(args, workdir, services))
            for service in services:
                print(f"  {service.name:<9} {service.url}   log: {service.log}")
            print("\nReady. Press Ctrl-C to stop.", flush=True)
            dead = wait_for_exit(services)
            print(f"{dead.name} exited:\n{dead.log_tail()}", file=sys.stderr)
        except StartupFailed as exc:
            print(exc, file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nStopping.", flush=True)
            return 0
        finally:
            for service in reversed(services):
                service.stop()
    return 1


if __name__ == "__main__":
    sys.exit(main())
