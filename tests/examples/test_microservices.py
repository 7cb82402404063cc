"""End to end: ``examples/microservices/run.py`` starts the auth server, inventory and orders on
free 127.0.0.1 ports. Alice's token opens orders; orders reaches inventory with a token of its
own, fetched once for many calls; inventory refuses every token not issued for it, or without
``inventory:read``; the printed walkthrough runs as printed; and Ctrl-C stops every process.

Everything is bounded: the start, each request, the walkthrough and the stop have time limits,
and whatever is left of the run's process group is killed at the end."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from ostiary.authn.client_settings import ClientSettings

from ..http._live import claims_of, clean_environment, register_client, sqlite_url
from ..http._server import FAST_ARGON2

pytestmark = pytest.mark.slow

RUN: Final = Path(__file__).parents[2] / "examples" / "microservices" / "run.py"
READY: Final = "Ready. Press Ctrl-C to stop."
INVENTORY_AUDIENCE: Final = "https://inventory.example"
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 15.0
REQUEST_TIMEOUT: Final = 10.0
BASH_TIMEOUT: Final = 20.0
PORT_ATTEMPTS: Final = 3
WRONG_AUDIENCE: Final = {
    "error": "invalid_token",
    "error_description": "The token is not intended for this audience.",
}


@dataclass(frozen=True)
class Stack:
    """A running ``run.py`` and what it printed."""

    process: subprocess.Popen[bytes]
    ports: tuple[int, int, int]
    output: Path
    alice_password: str

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def inventory_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[1]}"

    @property
    def orders_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[2]}"

    def stdout(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def orders_secret(self) -> str:
        match = re.search(r"^  export ORDERS_SECRET=(\S+)$", self.stdout(), re.MULTILINE)
        assert match, self.stdout()
        return match.group(1)

    def workdir(self) -> Path:
        """The temporary directory of the run (where its logs and its database are)."""
        match = re.search(r"log: (\S+)/auth\.log$", self.stdout(), re.MULTILINE)
        assert match, self.stdout()
        return Path(match.group(1))

    def stop(self) -> int | None:
        """Ctrl-C, as in a terminal (SIGINT to ``run.py``); its exit code, None if it had to
        be killed. Whatever is left of its process group is killed in any case."""
        code: int | None = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.process.wait(timeout=STOP_TIMEOUT)
        else:
            code = self.process.returncode
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        return code


class PortTaken(RuntimeError):
    """Another process bound one of the free ports before the stack did."""


def free_ports(count: int) -> tuple[int, ...]:
    """Distinct free ports: every socket stays bound until all are chosen."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return tuple(int(sock.getsockname()[1]) for sock in sockets)


def launch(workdir: Path) -> Stack:
    workdir.mkdir(parents=True, exist_ok=True)
    auth, inventory, orders = free_ports(3)
    password = f"alice-{os.urandom(8).hex()}"
    environment = {
        **clean_environment(),
        "PYTHONUNBUFFERED": "1",
        "OSTIARY_DEMO_ALICE_PASSWORD": password,
        **{f"OSTIARY_{name.upper()}": str(value) for name, value in FAST_ARGON2.items()},
    }
    ports = ("--auth-port", str(auth), "--inventory-port", str(inventory))
    command = [sys.executable, str(RUN), *ports, "--orders-port", str(orders)]
    output = workdir / "run.log"
    with output.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole at the end
        )
    return Stack(process, (auth, inventory, orders), output, password)


def wait_until_ready(stack: Stack) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if READY in stack.stdout():
            return
        if stack.process.poll() is not None:
            failure = PortTaken if "address already in use" in stack.stdout() else RuntimeError
            raise failure(f"run.py exited with {stack.process.returncode}:\n{stack.stdout()}")
        time.sleep(0.1)
    raise RuntimeError(f"run.py was not ready in {START_TIMEOUT} s:\n{stack.stdout()}")


@contextlib.contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    """``run.py`` started and ready; on a port taken meanwhile, started again on others."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        stack = launch(workdir / f"attempt-{attempt}")
        try:
            wait_until_ready(stack)
        except PortTaken:
            stack.stop()
            if attempt == PORT_ATTEMPTS:
                raise
            continue
        except BaseException:
            stack.stop()
            raise
        try:
            yield stack
        finally:
            stack.stop()
        return


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("microservices")) as running:
        yield running


def http() -> httpx.Client:
    return httpx.Client(timeout=REQUEST_TIMEOUT)


def alice_token(client: httpx.Client, stack: Stack) -> str:
    answer = client.post(
        f"{stack.auth_url}/auth/login",
        json={"username": "alice", "password": stack.alice_password},
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def service_token(client: httpx.Client, stack: Stack, client_id: str, secret: str) -> str:
    answer = client.post(
        f"{stack.auth_url}/oauth/token",
        data={"grant_type": "client_credentials", "resource": INVENTORY_AUDIENCE},
        auth=(client_id, secret),
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get_order(client: httpx.Client, stack: Stack, order: str, token: str) -> dict[str, Any]:
    answer = client.get(f"{stack.orders_url}/orders/{order}", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_alice_gets_her_order_with_the_stock_orders_got_with_its_own_token(stack: Stack) -> None:
    with http() as client:
        token = alice_token(client, stack)
        body = get_order(client, stack, "1", token)
    alice = claims_of(token)
    assert "api" in alice["aud"]  # OSTIARY_AUDIENCE's, besides the account API's
    assert (body["order"], body["user"], body["sku"], body["quantity"]) == (
        "1",
        alice["sub"],
        "sku-1",
        2,
    )
    assert (body["stock"]["sku"], body["stock"]["available"]) == ("sku-1", 12)
    # Inventory saw orders' service token, not alice's.
    assert body["stock"]["caller"]["client_id"] == "orders"
    assert body["stock"]["caller"]["token_jti"] != alice["jti"]


def test_orders_fetches_one_service_token_for_many_calls(stack: Stack) -> None:
    with http() as client:
        token = alice_token(client, stack)
        bodies = [get_order(client, stack, order, token) for order in ("1", "2", "1", "2")]
    assert [b["stock"]["sku"] for b in bodies] == ["sku-1", "sku-2", "sku-1", "sku-2"]
    assert {b["stock"]["caller"]["client_id"] for b in bodies} == {"orders"}
    assert len({b["stock"]["caller"]["token_jti"] for b in bodies}) == 1


def test_inventory_refuses_alice_token_for_another_audience(stack: Stack) -> None:
    with http() as client:
        token = alice_token(client, stack)
        answer = client.get(f"{stack.inventory_url}/stock/sku-1", headers=bearer(token))
    assert (answer.status_code, answer.json()) == (401, WRONG_AUDIENCE)
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="inventory"')
    assert 'error="invalid_token"' in challenge


def test_orders_needs_a_user_token(stack: Stack) -> None:
    with http() as client:
        missing = client.get(f"{stack.orders_url}/orders/1")
        token = service_token(client, stack, "orders", stack.orders_secret())
        service = client.get(f"{stack.orders_url}/orders/1", headers=bearer(token))
    assert missing.status_code == 401
    # Bearer and DPoP (RFC 9449 §7.1), both accepted by default
    assert missing.headers["www-authenticate"].startswith('Bearer realm="orders", DPoP realm=')
    # Orders' own token is for inventory: orders refuses it like any token not meant for it.
    assert (service.status_code, service.json()) == (401, WRONG_AUDIENCE)


def test_inventory_needs_the_scope_inventory_read(stack: Stack) -> None:
    # A second service account, allowed inventory's audience but another scope only.
    registered = register_client(
        sqlite_url(stack.workdir()),
        ClientSettings(
            name="Audit service",
            scopes=frozenset({"inventory:audit"}),
            audiences=frozenset({INVENTORY_AUDIENCE}),
        ),
        client_id="audit",
    )
    assert registered.secret is not None
    with http() as client:
        token = service_token(client, stack, "audit", registered.secret)
        answer = client.get(f"{stack.inventory_url}/stock/sku-1", headers=bearer(token))
    assert claims_of(token)["aud"] == INVENTORY_AUDIENCE
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "insufficient_scope"
    assert 'scope="inventory:read"' in answer.headers["www-authenticate"]


def printed_walkthrough(stdout: str) -> str:
    """The indented shell block after "Try it from another shell", dedented."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Try it from another shell"))
    block: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("  auth "):  # the list of processes that follows it
            break
        block.append(line[2:])
    return "\n".join(block).strip() + "\n"


def test_the_printed_walkthrough_runs_as_printed(stack: Stack, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    script = tmp_path / "walkthrough.sh"
    script.write_text(printed_walkthrough(stack.stdout()), encoding="utf-8")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", str(script)],
        cwd=tmp_path,
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BASH_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    order, refused, no_token, stock = done.stdout.splitlines()
    assert '"caller":{"client_id":"orders"' in order
    assert refused.endswith(" 401") and "not intended for this audience" in refused
    assert no_token == "401"
    assert '"sku":"sku-3"' in stock and '"client_id":"orders"' in stock


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        workdir = stack.workdir()
        assert workdir.is_dir()
        assert stack.stop() == 0
    assert "Stopping." in stack.stdout()
    for port in stack.ports:
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", port))
    assert not workdir.exists()
