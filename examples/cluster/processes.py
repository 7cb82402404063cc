"""The child processes of the cluster: started with their output in a log file, waited for
until they answer, stopped with SIGTERM and killed if they linger. Every wait is bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

STARTUP_TIMEOUT: Final = 60.0
STOP_TIMEOUT: Final = 10.0
CLI_TIMEOUT: Final = 60.0
POLL_INTERVAL: Final = 0.1


class StartupFailed(RuntimeError):
    """A process exited, or did not answer in time, while the cluster was starting."""


@dataclass(frozen=True)
class Process:
    """One running part of the cluster."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, path: str, ready: Callable[[httpx.Response], bool]) -> None:
        """Until ``GET path`` answers what ``ready`` accepts; :class:`StartupFailed` if the
        process exits or :data:`STARTUP_TIMEOUT` passes first."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = "no answer"
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise StartupFailed(f"{self.name} exited during start-up:\n{self.log_tail()}")
                try:
                    answer = client.get(path)
                except httpx.TransportError as exc:
                    last = f"{type(exc).__name__}"
                else:
                    if ready(answer):
                        return
                    last = f"{answer.status_code} {answer.text[:200]}"
                time.sleep(POLL_INTERVAL)
        raise StartupFailed(
            f"{self.name} was not ready in {STARTUP_TIMEOUT:.0f} s (GET {path}: {last}); "
            f"its log, {self.log}:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)


def start(
    name: str, command: Sequence[str], *, url: str, env: Mapping[str, str], workdir: Path
) -> Process:
    """Start ``command`` in ``workdir``, its output going to ``<name>.log`` there."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:  # the child has its own copy of the descriptor
        process = subprocess.Popen(
            list(command),
            cwd=workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Process(name, process, url, log)


def ostiary(*args: str) -> list[str]:
    """The ``ostiary`` command of this Python environment."""
    return [sys.executable, "-m", "ostiary.cli", *args]


def run_cli(
    args: Sequence[str], *, env: Mapping[str, str], workdir: Path, stdin: str = ""
) -> dict[str, object]:
    """Run ``ostiary <args>`` to the end; the JSON it printed."""
    done = subprocess.run(
        ostiary(*args),
        cwd=workdir,
        env=dict(env),
        input=stdin.encode(),
        capture_output=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        command = " ".join(["ostiary", *args[:2]])
        raise StartupFailed(f"{command} failed:\n{done.stderr.decode(errors='replace')}")
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def first_exited(processes: Sequence[Process]) -> Process | None:
    return next((p for p in processes if p.process.poll() is not None), None)
