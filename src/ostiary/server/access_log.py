"""The access log: one JSON line per answered request, written in batches off the event loop.

uvicorn's access log makes a ``logging`` record per request, formats it and writes it with a
``write`` and a ``flush`` on the event loop: about a third of the server's time for a small
answer such as the JWKS, and a stalled reader of stdout (a full pipe) stalls every request.
This one formats the line in the middleware that saw the answer (the status, the bytes sent,
how long it took), appends it to a batch, and every ``interval`` seconds (or at ``batch``
lines) hands the batch to one writer thread. A stalled output costs lines, never requests:
at most ``backlog`` batches wait, the rest are dropped and counted, and the count is written
as soon as the output moves again.

Every line is structured (a JSON object: ``time``, ``client``, ``method``, ``path``,
``http``, ``status``, ``bytes``, ``ms``), so that nothing a client sends can break or forge
a line (CWE-117: JSON escapes every control character; they are escaped once more with
:func:`~ostiary.logtext.escape_controls` so that a decoded line break reads the same in every
log of Ostiary). The query's credentials are redacted (:func:`~ostiary.server.logs.redact_query`,
CWE-532). At most ``interval`` seconds of lines are lost if the process is killed; the audit
trail, which records what matters for security, is written before the answer instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.logtext import escape_controls
from ostiary.server.logs import redact_query

#: Seconds a line may wait in a batch before it is handed to the writer.
FLUSH_INTERVAL: Final = 0.2
#: Lines that make a batch go at once, before its time.
BATCH_LINES: Final = 512
#: Batches that may wait for a slow output before new ones are dropped.
BACKLOG_BATCHES: Final = 256
_PATH_LIMIT: Final = 2048  # characters of the request target kept in a line
_PIPE_BUF: Final = 4096  # POSIX's PIPE_BUF on Linux: writes up to this are atomic on a pipe
STDOUT_FD: Final = 1


class AccessLog:
    """Lines in batches, written by one daemon thread to ``stream`` (stdout by default)."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        interval: float = FLUSH_INTERVAL,
        batch: int = BATCH_LINES,
        backlog: int = BACKLOG_BATCHES,
    ) -> None:
        self._stream = stream
        self._interval = interval
        self._batch_size = batch
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=backlog)
        self._dropped = 0
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None

    def add(self, line: str) -> None:
        """Queue one line (without its line break); called on the event loop."""
        self._lines.append(line)
        if len(self._lines) >= self._batch_size:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # outside a loop (a test, a shutdown): at once
                self.flush()
            else:
                self._timer = loop.call_later(self._interval, self.flush)

    def flush(self) -> None:
        """Hand the current batch to the writer thread (dropped and counted if it is behind)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        chunk = "\n".join(self._lines) + "\n"
        count = len(self._lines)
        self._lines = []
        self._start_writer()
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:
            with self._lock:
                self._dropped += count

    def close(self, timeout: float = 10.0) -> None:
        """Flush, then wait (at most ``timeout`` seconds) for the writer to write everything."""
        self.flush()
        writer = self._writer
        if writer is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        writer.join(timeout)
        self._writer = None

    @property
    def dropped(self) -> int:
        """Lines dropped so far because the output was too slow."""
        with self._lock:
            return self._dropped

    def _start_writer(self) -> None:
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(
                target=self._write_all, name="ostiary-access-log", daemon=True
            )
            self._writer.start()

    def _write_all(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            with self._lock:
                dropped, self._dropped = self._dropped, 0
            if dropped:
                chunk = _dropped_line(dropped) + "\n" + chunk
            try:
                if self._stream is not None:
                    self._stream.write(chunk)
                    self._stream.flush()
                else:
                    write_lines_atomically(STDOUT_FD, chunk.encode("utf-8"))
            except (OSError, ValueError):  # a closed or broken output: nothing to tell it
                with self._lock:
                    self._dropped += chunk.count("\n")


def write_lines_atomically(fd: int, data: bytes) -> None:
    """Write whole lines to ``fd``, one ``write`` per piece of :func:`line_pieces`: POSIX makes
    a write of at most ``PIPE_BUF`` bytes to a pipe atomic, so the lines of several worker
    processes sharing one stdout never mix."""
    for piece in line_pieces(data):
        while piece:
            written = os.write(fd, piece)
            piece = piece[written:]


def line_pieces(data: bytes, limit: int = _PIPE_BUF) -> Iterator[memoryview]:
    """``data`` cut at line breaks into pieces of at most ``limit`` bytes; a line longer than
    that is a piece of its own."""
    view = memoryview(data)
    start = 0
    while start < len(data):
        end = start + limit
        if end < len(data):
            cut = data.rfind(b"\n", start, end)
            end = cut + 1 if cut >= start else (data.find(b"\n", end) + 1 or len(data))
        yield view[start:end]
        start = end


def _dropped_line(count: int) -> str:
    return json.dumps(
        {"time": _utc_text(time.time()), "event": "access_log.dropped", "lines": count},
        separators=(",", ":"),
    )


def access_line(
    *,
    started: float,
    elapsed: float,
    client: tuple[str, int] | None,
    method: str,
    target: str,
    http_version: str,
    status: int,
    sent: int,
) -> str:
    """One request as a JSON object: what uvicorn's line says, plus the bytes and the time.
    Written field by field (the strings through the C encoder ``json.dumps`` itself uses,
    ASCII only, every control character escaped), a quarter of what building a dict and
    dumping it costs: this runs for every request."""
    path = escape_controls(redact_query(target[:_PATH_LIMIT]))
    where = _string(f"{client[0]}:{client[1]}") if client else "null"
    method_json = _KNOWN.get(method) or _string(escape_controls(method[:16]))
    http_json = _KNOWN.get(http_version) or _string(http_version)
    return (
        f'{{"time":"{_utc_text(started)}","client":{where},'
        f'"method":{method_json},"path":{_string(path)},'
        f'"http":{http_json},"status":{int(status)},"bytes":{int(sent)},'
        f'"ms":{elapsed * 1000:.2f}}}'
    )


#: JSON's string encoder (the C one), ASCII only: quotes and escapes what JSON needs.
_string: Callable[[str], str] = json.encoder.encode_basestring_ascii
_seconds_cache: list[tuple[int, str]] = [(-1, "")]
#: The JSON strings of the common methods and HTTP versions, made once.
_KNOWN: Final[dict[str, str]] = {
    text: _string(text)
    for text in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "1.0", "1.1", "2")
}
#: ".000+00:00" to ".999+00:00": the millisecond part of a time.
_MILLIS: Final = tuple(f".{millis:03d}+00:00" for millis in range(1000))


def _utc_text(timestamp: float) -> str:
    """ISO 8601 UTC to the millisecond, ``2026-12-07T05:30:01.123+00:00``; the part up to the
    second is made once a second."""
    second = int(timestamp)
    cached_second, text = _seconds_cache[0]
    if second != cached_second:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _seconds_cache[0] = (second, text)
    return text + _MILLIS[min(999, int((timestamp - second) * 1000))]


class AccessLogMiddleware:
    """Outermost, so that it logs the answer as sent, whoever made it (a route, an error
    handler, a size cap). HTTP requests only; one whose answer never began (the client went
    away, or the server stopped) is logged with ``499``, as nginx does."""

    def __init__(self, app: ASGIApp, *, access_log: AccessLog) -> None:
        self.app = app
        self.access_log = access_log
        self._clock: Callable[[], float] = time.perf_counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wall = time.time()
        start = self._clock()
        status = 499  # the client went away before an answer began (nginx's code for it)
        sent = 0

        started = False

        async def send_and_count(message: Message) -> None:
            nonlocal status, sent, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        except Exception:
            if not started:
                status = 500  # what the server answers for an exception that escaped
            raise
        finally:
            log_request(
                self.access_log,
                scope,
                wall=wall,
                elapsed=self._clock() - start,
                status=status,
                sent=sent,
            )


def log_request(
    access_log: AccessLog, scope: Scope, *, wall: float, elapsed: float, status: int, sent: int
) -> None:
    """Add the line of the HTTP request of ``scope``, answered with ``status`` and ``sent``
    bytes of body, begun at ``wall`` (``time.time``) and ``elapsed`` seconds long. The one
    place a line is made from a request: :class:`AccessLogMiddleware` and the hot paths
    (:mod:`ostiary.server.hot_paths`) both call it."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    target = (raw + (b"?" + query if query else b"")).decode("latin-1")
    access_log.add(
        access_line(
            started=wall,
            elapsed=elapsed,
            client=scope.get("client"),
            method=scope["method"],
            target=target,
            http_version=scope.get("http_version", "1.1"),
            status=status,
            sent=sent,
        )
    )
