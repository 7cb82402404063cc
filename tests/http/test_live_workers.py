"""``ostiary serve --demo --workers 2`` for real: two worker processes on one port, on SQLite
(one file, several processes) and on PostgreSQL.

Which worker answers a connection is read from /proc, not from anything the server says: the
server-side socket of the connection (its inode, from /proc/net/tcp) is among the open files
of exactly one worker. Each test then talks to a chosen worker over a kept-alive connection.

Every wait is a bounded loop on the server's own answers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from ostiary.authz.trust import REVOCATIONS_SCOPE

from ._live import (
    LiveServer,
    PostgresUnavailable,
    bearer,
    clean_environment,
    free_port,
    header_of,
    live_server,
    login,
    postgres_database,
    register_stream_reader,
    server_command,
    sqlite_url,
)

pytestmark = pytest.mark.slow

WORKERS: Final = 2
WAIT: Final = 15.0  # generous: what is awaited takes well under a second
LOGIN_LIMIT: Final = 10  # OSTIARY_LOGIN_RATE_LIMIT's default, per account and address
STREAM_CLIENT: Final = "stream-reader"

#: A kept-alive client per worker PID.
Pinned = dict[int, httpx.Client]


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {WAIT} s: {what}")


# --- who serves what, from /proc ---------------------------------------------------------------


def worker_pids(parent: int) -> list[int]:
    """The parent's children that serve (the spawned workers; not multiprocessing's
    resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def server_socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server's end of the TCP connection from ``client_port``."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[9])
    return None


def serving_pid(pids: list[int], inode: int) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    return None


def worker_of(server: LiveServer, pids: list[int], response: httpx.Response) -> int | None:
    stream = response.extensions["network_stream"]
    client_port = stream.get_extra_info("client_addr")[1]
    inode = server_socket_inode(server.port, client_port)
    return serving_pid(pids, inode) if inode is not None else None


def pin_workers(server: LiveServer, pids: list[int], attempts: int = 60) -> Pinned:
    """One kept-alive client per worker: new connections until each worker has one."""
    pinned: Pinned = {}
    for _ in range(attempts):
        client = server.client()
        pid = worker_of(server, pids, client.get("/healthz"))
        if pid is None or pid in pinned:
            client.close()
        else:
            pinned[pid] = client
        if len(pinned) == len(pids):
            break
    return pinned


# --- the servers -------------------------------------------------------------------------------


def stream_reader(database_url: str, port: int) -> str:
    """A service allowed the revocation stream, registered before the server starts."""
    return register_stream_reader(database_url, port, client_id=STREAM_CLIENT, name="Stream reader")


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    workdir: Path = tmp_path_factory.mktemp("live-workers")
    port = free_port()
    secret = stream_reader(sqlite_url(workdir), port)
    with live_server(workdir, port=port, options=["--workers", str(WORKERS)]) as server:
        yield server, secret


@pytest.fixture(scope="module")
def pinned(sqlite_server: tuple[LiveServer, str]) -> Iterator[Pinned]:
    server, _ = sqlite_server
    clients = pin_workers(server, worker_pids(server.process.pid))
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()


def access_token(client: httpx.Client, username: str, password: str) -> str:
    answer = login(client, username, password)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def refused_everywhere(pinned: Pinned, token: str) -> bool:
    return all(c.get("/auth/me", headers=bearer(token)).status_code == 401 for c in pinned.values())


# --- SQLite --------------------------------------------------------------------------------------


def test_two_worker_processes_serve_the_port(
    sqlite_server: tuple[LiveServer, str], pinned: Pinned
) -> None:
    server, _ = sqlite_server
    pids = worker_pids(server.process.pid)
    assert len(pids) == WORKERS and server.process.pid not in pids
    assert sorted(pinned) == pids  # each one answered a connection of its own


def test_the_walkthrough_is_printed_once(sqlite_server: tuple[LiveServer, str]) -> None:
    server, _ = sqlite_server
    stdout = server.stdout()
    assert stdout.count("Try it from another shell") == 1
    assert stdout.count("Demo users:") == 1


def test_a_logout_at_one_worker_is_refused_by_every_worker(
    sqlite_server: tuple[LiveServer, str], pinned: Pinned
) -> None:
    server, _ = sqlite_server
    first, *others = pinned.values()
    token = access_token(first, "alice", server.alice_password)
    for client in pinned.values():
        assert client.get("/auth/me", headers=bearer(token)).status_code == 200
    assert first.post("/auth/logout", headers=bearer(token)).status_code == 204
    assert first.get("/auth/me", headers=bearer(token)).status_code == 401
    eventually(lambda: refused_everywhere(pinned, token), "the other worker refuses it")
    for client in others:
        assert client.get("/api/profile", headers=bearer(token)).status_code == 401


def test_the_login_limit_is_one_count_for_all_workers(
    sqlite_server: tuple[LiveServer, str], pinned: Pinned
) -> None:
    """10 logins a minute per account and address in all, not 10 per worker."""
    server, _ = sqlite_server
    clients = list(pinned.values())
    answers = [
        login(clients[i % WORKERS], "admin", server.admin_password).status_code
        for i in range(LOGIN_LIMIT * WORKERS)
    ]
    assert answers[:LOGIN_LIMIT] == [200] * LOGIN_LIMIT
    assert set(answers[LOGIN_LIMIT:]) == {429}


def test_a_key_rotated_by_the_cli_verifies_on_every_worker(
    sqlite_server: tuple[LiveServer, str], pinned: Pinned
) -> None:
    server, _ = sqlite_server
    rotated = subprocess.run(
        [*server_command(verbose=False), "keys", "rotate"],
        cwd=server.workdir,  # the demo's master key: .ostiary/master.key there
        env={
            **clean_environment(),
            "OSTIARY_DATABASE_URL": server.database_url,
            "OSTIARY_DEV": "true",
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rotated.returncode == 0, rotated.stderr
    (new_kid,) = [
        k["kid"] for k in json.loads(rotated.stdout) if k["status"] == "active" and "ES" in k["alg"]
    ]
    first = next(iter(pinned.values()))
    tokens: list[str] = []

    def signed_with_the_new_key() -> bool:
        tokens.append(access_token(first, "alice", server.alice_password))
        return bool(header_of(tokens[-1])["kid"] == new_kid)

    eventually(signed_with_the_new_key, "a login signs with the rotated key")
    for client in pinned.values():
        assert client.get("/auth/me", headers=bearer(tokens[-1])).status_code == 200

    def published_everywhere() -> bool:
        return all(
            new_kid in {k["kid"] for k in c.get("/.well-known/jwks.json").json()["keys"]}
            for c in pinned.values()
        )

    eventually(published_everywhere, "every worker publishes the rotated key")


def test_sigterm_answers_the_request_in_flight_and_ends_every_worker(
    sqlite_server: tuple[LiveServer, str], pinned: Pinned
) -> None:
    """Last: it stops the server. A login whose body is still on its way when SIGTERM comes
    is answered; the revocation streams open at each worker end; every process exits."""
    server, secret = sqlite_server
    pids = sorted(pinned)
    service = httpx.BasicAuth(STREAM_CLIENT, secret)
    grant = {
        "grant_type": "client_credentials",
        "scope": REVOCATIONS_SCOPE,
        "resource": f"{server.issuer}/auth/revocations",
    }
    first = next(iter(pinned.values()))
    stream_token = first.post("/oauth/token", data=grant, auth=service).json()["access_token"]
    streams = contextlib.ExitStack()
    opened = [
        streams.enter_context(
            client.stream("GET", "/auth/revocations/stream", headers=bearer(stream_token))
        )
        for client in pinned.values()
    ]
    assert all(r.status_code == 200 for r in opened)

    body = json.dumps({"username": "alice", "password": server.alice_password}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(
            b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        # 100 Continue: the app is handling the request and waits for its body.
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 ")
        server.process.send_signal(signal.SIGTERM)
        eventually(lambda: server.logs().count("Shutting down") >= WORKERS, "both workers stop")
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b'"access_token"' in answer

    with streams:  # each stream ends (within the read timeout) instead of holding its worker
        for stream in opened:
            for _ in stream.iter_bytes():
                pass
            assert stream.is_stream_consumed
    assert server.process.wait(timeout=WAIT) == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir: Path = tmp_path_factory.mktemp("live-workers-pg")
    try:
        with postgres_database("ostiary_workers") as url:
            options = ["--workers", str(WORKERS)]
            with live_server(workdir, database_url=url, options=options) as server:
                yield server
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def test_on_postgresql_a_logout_and_the_login_limit_hold_across_workers(
    postgres_server: LiveServer,
) -> None:
    server = postgres_server
    pinned = pin_workers(server, worker_pids(server.process.pid))
    try:
        assert len(pinned) == WORKERS
        first = next(iter(pinned.values()))
        token = access_token(first, "alice", server.alice_password)
        assert first.post("/auth/logout", headers=bearer(token)).status_code == 204
        eventually(lambda: refused_everywhere(pinned, token), "every worker refuses it")
        clients = list(pinned.values())
        answers = [
            login(clients[i % WORKERS], "admin", server.admin_password).status_code
            for i in range(LOGIN_LIMIT * WORKERS)
        ]
        assert answers[:LOGIN_LIMIT] == [200] * LOGIN_LIMIT
        assert set(answers[LOGIN_LIMIT:]) == {429}
    finally:
        for client in pinned.values():
            client.close()
