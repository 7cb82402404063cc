"""The worker processes of ``ostiary serve --workers N``, and the uvicorn server each runs.

The parent binds the port once, then starts N processes (``spawn``: nothing of the parent's
threads or connections is inherited) that each build the app from the ``OSTIARY_*``
environment and serve the one listening socket; the kernel hands each new connection to one
of them. The parent supervises: a worker that dies is replaced, one that fails its start-up
stops them all (exit 3, as uvicorn). SIGTERM or SIGINT to the parent is passed on as SIGTERM
to every worker, which answers the requests in flight, ends its revocation streams and stops
(uvicorn's graceful shutdown); a second signal kills those still running.

uvicorn has a supervisor of its own, but its workers run uvicorn's own server class, which
would not end the revocation streams before waiting for open responses.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any, Final

import uvicorn

from ostiary.server.routes.revocation_stream import end_streams

log = logging.getLogger("ostiary.server")

#: A worker's exit status when its start-up failed (uvicorn's ``STARTUP_FAILURE``).
STARTUP_FAILURE: Final = 3
#: How often the supervisor looks at its workers when nothing woke it.
SUPERVISE_SECONDS: Final = 0.5

multiprocessing.allow_connection_pickling()  # the listening socket goes to each worker
_SPAWN: Final = multiprocessing.get_context("spawn")


class StreamEndingServer(uvicorn.Server):
    """A uvicorn server whose shutdown first ends the open revocation streams of ``app``:
    uvicorn waits for open responses before the lifespan's shutdown, and a stream would not
    end on its own. Module level: each worker process builds its own."""

    def __init__(self, config: uvicorn.Config, app: Any) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services = getattr(getattr(self.app, "state", None), "services", None)
        if services is not None:
            end_streams(services)
        await super().shutdown(sockets)


def run_worker(options: dict[str, Any], sockets: list[socket.socket]) -> None:
    """A worker process: the app built from the ``OSTIARY_*`` environment (the parent put
    every setting there), without the demo's seed and printout (done once, by the parent),
    served on the parent's ``sockets``."""
    from ostiary.cli._command_setup import load_settings
    from ostiary.cli.serve import share_one_malloc_arena
    from ostiary.server.app import create_app

    share_one_malloc_arena()  # before the first thread starts
    app = create_app(load_settings(), freeze_gc=True, seed_demo=False)
    server = StreamEndingServer(uvicorn.Config(app, **options), app)
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:  # a Ctrl-C reaches the whole process group: the parent stops us
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class WorkerPool:
    """``count`` worker processes on one listening socket, bound here from ``options``
    (uvicorn's: host, port, TLS files...), supervised until a signal stops them."""

    def __init__(self, count: int, options: dict[str, Any]) -> None:
        self.count = count
        self.options = options
        self._stop = threading.Event()
        self._signals = 0
        self._workers: list[multiprocessing.process.BaseProcess] = []

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; the exit status for the command."""
        config = uvicorn.Config("ostiary.server.app:create_app", **self.options)
        sock = config.bind_socket()  # logs where it listens; exits if the port is taken
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            log.info("starting %d worker processes (supervisor %d)", self.count, os.getpid())
            self._workers = [self._start(sock) for _ in range(self.count)]
            status = self._supervise(sock)
            self._stop_all()
            return status
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.pid is not None]

    def _start(self, sock: socket.socket) -> multiprocessing.process.BaseProcess:
        worker = _SPAWN.Process(
            target=run_worker, args=(self.options, [sock]), name="ostiary-worker"
        )
        worker.start()
        return worker

    def _supervise(self, sock: socket.socket) -> int:
        while not self._stop.is_set():
            sentinels = [w.sentinel for w in self._workers]
            multiprocessing.connection.wait(sentinels, timeout=SUPERVISE_SECONDS)
            for index, worker in enumerate(self._workers):
                if self._stop.is_set() or worker.exitcode is None:
                    continue
                worker.join()
                if worker.exitcode == STARTUP_FAILURE:
                    log.error("worker %d failed to start: stopping the others", worker.pid)
                    return STARTUP_FAILURE
                log.warning(
                    "worker %d ended (exit status %s): starting another",
                    worker.pid,
                    worker.exitcode,
                )
                self._workers[index] = self._start(sock)
        return 0

    def _stop_all(self) -> None:
        """SIGTERM to each worker still running, then wait for all of them: each ends its
        requests in flight first. A second signal to this process kills them instead."""
        for worker in self._workers:
            if worker.exitcode is None and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)
        for worker in self._workers:
            worker.join()
        log.info("all %d workers stopped", len(self._workers))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        self._stop.set()
        if self._signals > 1:  # asked twice: do not wait for the requests in flight
            for worker in self._workers:
                if worker.exitcode is None and worker.pid is not None:
                    os.kill(worker.pid, signal.SIGKILL)


_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
