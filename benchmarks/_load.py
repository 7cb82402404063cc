"""The load generator of the HTTP bench: ``python -m benchmarks._load --port N ...``.

A small closed-loop HTTP/1.1 client on raw asyncio protocols (uvloop when installed):
``--connections`` keep-alive connections to 127.0.0.1, each sending one request and reading
the whole response (by ``Content-Length``) before sending the next. A warm-up (bounded in
time and requests) runs first, then the measurement, bounded by ``--duration`` seconds and
``--max-requests`` requests, and for distinct tokens by the tokens given. Every response
whose status is not 200 is an error. Prints one JSON object on stdout.

Requests are ``GET --path`` (with ``--token``, or a token of ``--tokens-file`` each, or
``--token`` as ``Authorization: DPoP`` with a proof of ``--dpop-proofs`` each), the same
``POST --path`` with the JSON body of ``--body-file`` each time, or, with ``--refresh-chains``,
``POST --path`` ``{"refresh_token": ...}`` where each connection starts from its own token of
that file and sends next the refresh token the previous response returned (rotation: a
token is never sent twice). A non-200 answer ends that connection's chain.

Written with protocols rather than streams, and without any HTTP library, so that one core
drives several times the rate a one-worker uvicorn server serves; the client's own CPU use
in the window is reported so that a saturated client shows.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

GRACE: Final = 15.0  # seconds beyond warm-up and duration before the run is abandoned


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process ``pid`` (Linux ``/proc``); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time of ``pid`` and of its live descendants (the workers of ``ostiary serve
    --workers N``, whose supervisor itself hardly runs)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
                parents[int(entry.name)] = int(stat[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, grown = {pid}, True
    while grown:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    times = [process_cpu_seconds(member) for member in tree]
    if times[0:1] == [None] and process_cpu_seconds(pid) is None:
        return None
    return sum(t for t in times if t is not None)


class Shared:
    """One sequence of requests all connections draw from; its end stops the run."""

    shared: Final = True

    def __init__(self, requests: Iterator[bytes]) -> None:
        self.requests = requests

    def next(self) -> bytes | None:
        return next(self.requests, None)

    def answered(self, status: int, body: bytes) -> None:
        pass


class RefreshChain:
    """One connection's own refresh-token chain: each request sends the refresh token the
    previous response returned. A non-200 answer (or one without a token) ends the chain."""

    shared: Final = False

    def __init__(self, head: bytes, token: str) -> None:
        self.head = head
        self.token: str | None = token

    def next(self) -> bytes | None:
        if self.token is None:
            return None
        return post(self.head, json.dumps({"refresh_token": self.token}).encode())

    def answered(self, status: int, body: bytes) -> None:
        token = None
        if status == 200:
            try:
                token = json.loads(body)["refresh_token"]
            except (ValueError, KeyError, TypeError):
                token = None
        self.token = token if isinstance(token, str) else None


RequestSource = Shared | RefreshChain


def post(head: bytes, body: bytes) -> bytes:
    return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)


@dataclass(slots=True)
class LoadGenerator:
    warmup: float
    warmup_max: int
    duration: float
    max_requests: int
    server_pid: int | None
    #: Count the CPU of the server's descendants too (its worker processes).
    server_tree: bool = False
    connections: list[Connection] = field(default_factory=list)
    measuring: bool = False
    stopped_by: str = ""
    sent: int = 0
    inflight: int = 0
    warm_end: float = 0.0
    start: float = 0.0
    end: float = 0.0
    last_done: float = 0.0
    counted: int = 0
    warmup_done: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    #: Seconds from sending each counted request to reading the whole of its response.
    latencies: list[float] = field(default_factory=list)
    warmup_statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    protocol_errors: int = 0
    chains_broken: int = 0
    cpu_start: float = 0.0
    cpu_stop: float = 0.0
    server_cpu_start: float | None = None
    server_cpu_stop: float | None = None
    #: Other processes whose CPU time is reported (e.g. the database's backends), by the text
    #: their command line contains; their CPU time at the start of the window, by pid.
    others_match: str = ""
    others_start: dict[int, float] = field(default_factory=dict)
    others_cpu: float | None = None
    stop_time: float = 0.0
    done: asyncio.Future[None] | None = None

    def begin(self) -> None:
        self.warm_end = time.perf_counter() + self.warmup
        if self.warmup <= 0 or self.warmup_max <= 0:
            self._start_measuring(time.perf_counter())
        for conn in self.connections:
            conn.send_next()
            if self.stopped_by:
                break
        self._check_done()

    def _start_measuring(self, now: float) -> None:
        self.measuring = True
        self.sent = 0
        self.start = now
        self.end = now + self.duration
        self.cpu_start = time.process_time()
        if self.server_pid is not None:
            self.server_cpu_start = self._server_cpu(self.server_pid)
        if self.others_match:
            self.others_start = processes_cpu(self.others_match)

    def _server_cpu(self, pid: int) -> float | None:
        return tree_cpu_seconds(pid) if self.server_tree else process_cpu_seconds(pid)

    def _stop(self, reason: str, now: float) -> None:
        self.stopped_by = reason
        self.stop_time = now
        self.cpu_stop = time.process_time()
        if self.server_pid is not None:
            self.server_cpu_stop = self._server_cpu(self.server_pid)
        if self.others_match and self.measuring:
            stop = processes_cpu(self.others_match)
            self.others_cpu = sum(t - self.others_start.get(p, 0.0) for p, t in stop.items())

    def next_request(self, conn: Connection) -> bytes | None:
        if self.stopped_by:
            return None
        now = time.perf_counter()
        if not self.measuring and (now >= self.warm_end or self.sent >= self.warmup_max):
            self._start_measuring(now)
        if self.measuring:
            if now >= self.end:
                self._stop("time", now)
                return None
            if self.sent >= self.max_requests:
                self._stop("request budget", now)
                return None
        request = conn.source.next()
        if request is None:
            if conn.source.shared:
                self._stop("tokens used up", now)
            else:
                self.chains_broken += 1
                conn.idle = True
            return None
        self.sent += 1
        self.inflight += 1
        return request

    def response(self, status: int, sent_at: float) -> None:
        self.inflight -= 1
        now = time.perf_counter()
        if not self.measuring:
            self.warmup_done += 1
            self.warmup_statuses[status] += 1
        elif now <= self.end:
            self.counted += 1
            self.statuses[status] += 1
            self.last_done = now
            if sent_at >= self.start:
                self.latencies.append(now - sent_at)

    def lost(self, *, in_flight: bool, protocol_error: bool) -> None:
        if in_flight:
            self.inflight -= 1
        if protocol_error:
            self.protocol_errors += 1
        elif in_flight or not self.stopped_by:
            self.connection_errors += 1
        self._check_done()

    def _check_done(self) -> None:
        idle = self.stopped_by or all(c.closed or c.idle for c in self.connections)
        if idle and self.inflight == 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)

    def after_response(self, conn: Connection) -> None:
        if not conn.send_next():
            self._check_done()

    def result(self, *, timed_out: bool) -> dict[str, Any]:
        if self.stopped_by == "time":
            window = self.end - self.start
        else:
            window = max(self.last_done, self.stop_time) - self.start
        stop = self.stop_time or time.perf_counter()
        busy = max(stop - self.start, 1e-9)
        server_cpu = (
            (self.server_cpu_stop - self.server_cpu_start) / busy
            if self.server_cpu_start is not None and self.server_cpu_stop is not None
            else None
        )
        non_200 = sum(n for s, n in (self.statuses + self.warmup_statuses).items() if s != 200)
        return {
            "requests": self.counted,
            "window": window,
            "rate": self.counted / window if window > 0 else 0.0,
            "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
            "warmup_requests": self.warmup_done,
            "non_200": non_200,
            "connection_errors": self.connection_errors,
            "protocol_errors": self.protocol_errors,
            "chains_broken": self.chains_broken,
            "stopped_by": self.stopped_by
            or ("chains broken" if self.chains_broken else "abandoned"),
            "timed_out": timed_out,
            "client_cpu": (self.cpu_stop - self.cpu_start) / busy if self.cpu_stop else None,
            "server_cpu": server_cpu,
            "others_cpu": self.others_cpu / busy if self.others_cpu is not None else None,
            "latency_ms": latency_percentiles(self.latencies),
        }


class Connection(asyncio.Protocol):
    """One keep-alive connection: a request, its whole response, the next request."""

    def __init__(self, gen: LoadGenerator, source: RequestSource) -> None:
        self.gen = gen
        self.source = source
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1  # bytes of the current response, once its header is parsed
        self.body_at = 0
        self.status = 0
        self.waiting = False
        self.closed = False
        self.broken = False
        self.idle = False  # its chain of requests ended
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send_next(self) -> bool:
        request = self.gen.next_request(self)
        if request is None or self.transport is None:
            return False
        self.waiting = True
        self.sent_at = time.perf_counter()
        self.transport.write(request)
        return True

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.need < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            try:
                self.status, length = _parse_head(bytes(buffer[:end]))
            except ValueError:
                self._fail()
                return
            self.body_at = end + 4
            self.need = self.body_at + length
        if len(buffer) < self.need:
            return
        if len(buffer) > self.need or not self.waiting:  # nothing was asked for: broken framing
            self._fail()
            return
        if not self.source.shared:
            self.source.answered(self.status, bytes(buffer[self.body_at :]))
        buffer.clear()
        self.need = -1
        self.waiting = False
        self.gen.response(self.status, self.sent_at)
        self.gen.after_response(self)

    def _fail(self) -> None:
        self.broken = True
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        in_flight, self.waiting = self.waiting, False
        self.gen.lost(in_flight=in_flight, protocol_error=self.broken)


def latency_percentiles(latencies: list[float]) -> dict[str, float] | None:
    """p50, p99 and max of ``latencies`` (seconds) in milliseconds; None without any."""
    if not latencies:
        return None
    ordered = sorted(latencies)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return {"p50": at(0.50), "p99": at(0.99), "max": ordered[-1] * 1000}


def _parse_head(head: bytes) -> tuple[int, int]:
    """Status and ``Content-Length`` of a response head; ValueError if there is none."""
    if not head.startswith(b"HTTP/1.1 "):
        raise ValueError("not an HTTP/1.1 response")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        raise ValueError("no Content-Length")
    stop = lower.find(b"\r\n", at + 2)
    return status, int(lower[at + 17 : stop if stop >= 0 else len(lower)])


def processes_cpu(match: str) -> dict[int, float]:
    """CPU seconds of every process whose command line contains ``match``, by pid."""
    found: dict[int, float] = {}
    needle = match.encode()
    own = str(os.getpid())  # this process's command line names ``match`` too
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or entry.name == own:
            continue
        try:
            if needle not in (entry / "cmdline").read_bytes():
                continue
        except OSError:
            continue
        seconds = process_cpu_seconds(int(entry.name))
        if seconds is not None:
            found[int(entry.name)] = seconds
    return found


def build_sources(args: argparse.Namespace) -> list[RequestSource]:
    """One request source per connection (chains), or one shared by all of them."""
    host = f"Host: 127.0.0.1:{args.port}\r\n"
    if args.refresh_chains is not None:
        head = f"POST {args.path} HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
        tokens = Path(args.refresh_chains).read_text().split()[: args.connections]
        return [RefreshChain(head.encode(), token) for token in tokens]
    return [Shared(build_requests(args))] * args.connections


def build_requests(args: argparse.Namespace) -> Iterator[bytes]:
    head = f"{args.method} {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n".encode()
    if args.basic is not None:
        credentials = base64.b64encode(args.basic.encode()).decode()
        head += f"Authorization: Basic {credentials}\r\n".encode()
    if args.body_file is not None:
        body = Path(args.body_file).read_bytes()
        content_type = f"Content-Type: {args.content_type}\r\n".encode()
        return itertools.repeat(post(head + content_type, body))
    if args.dpop_proofs is not None:
        proofs = Path(args.dpop_proofs).read_text().split()
        bound = head + b"Authorization: DPoP " + args.token.encode() + b"\r\nDPoP: "
        chosen = proofs[args.offset : args.offset + args.count]
        return iter([bound + p.encode() + b"\r\n\r\n" for p in chosen])
    if args.tokens_file is not None:
        lines = Path(args.tokens_file).read_text().split()
        chosen = lines[args.offset : args.offset + args.count]
        return iter([head + b"Authorization: Bearer " + t.encode() + b"\r\n\r\n" for t in chosen])
    if args.token:
        return itertools.repeat(
            head + b"Authorization: Bearer " + args.token.encode() + b"\r\n\r\n"
        )
    return itertools.repeat(head + b"\r\n")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    sources = build_sources(args)
    gen = LoadGenerator(
        warmup=args.warmup,
        warmup_max=args.warmup_max,
        duration=args.duration,
        max_requests=args.max_requests,
        server_pid=args.server_pid,
        server_tree=args.server_tree,
        others_match=args.cpu_of or "",
    )
    gen.done = loop.create_future()
    done = gen.done

    def fail(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # A bug in a callback must end the run with an error, not leave it waiting.
        loop.default_exception_handler(context)
        if not done.done():
            done.set_exception(RuntimeError(context.get("message", "callback failed")))

    loop.set_exception_handler(fail)
    opened = await asyncio.gather(
        *(
            loop.create_connection(
                functools.partial(Connection, gen, source), "127.0.0.1", args.port
            )
            for source in sources
        )
    )
    gen.connections = [protocol for _, protocol in opened]
    gen.begin()
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(gen.done), args.warmup + args.duration + GRACE)
    except TimeoutError:
        timed_out = True
    for transport, _ in opened:
        transport.close()
    return gen.result(timed_out=timed_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, help="run on this CPU only")
    parser.add_argument("--path", default="/")
    parser.add_argument("--method", default="GET", choices=("GET", "POST"))
    parser.add_argument("--body-file", help="POST this body with every request")
    parser.add_argument("--content-type", default="application/json", help="of the body")
    parser.add_argument("--basic", help="id:secret, sent as Authorization: Basic")
    parser.add_argument(
        "--refresh-chains",
        help="one refresh token per line, one per connection: POST each, then its successor",
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds")
    parser.add_argument("--warmup-max", type=int, default=10**9, help="requests")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds")
    parser.add_argument("--max-requests", type=int, default=10**9)
    parser.add_argument("--token", help="send this bearer token with every request")
    parser.add_argument("--tokens-file", help="one token per line, each sent once")
    parser.add_argument(
        "--dpop-proofs", help="with --token: one DPoP proof per line, each sent once with it"
    )
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--count", type=int, default=10**9)
    parser.add_argument("--server-pid", type=int, help="report this process's CPU use")
    parser.add_argument(
        "--server-tree",
        action="store_true",
        help="with --server-pid: add the CPU use of its descendants (worker processes)",
    )
    parser.add_argument(
        "--cpu-of", help="also report the CPU use of the processes whose command line has this"
    )
    args = parser.parse_args()
    if args.dpop_proofs is not None and not args.token:
        parser.error("--dpop-proofs needs --token")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
