"""Start-up: how long a CLI command takes from ``exec`` to exit, beside ``python -c pass``
(issue 11 §3). Each command runs ``repeats`` times as a fresh process (the first run, which
fills the OS's file cache, is not counted); the median wall time is reported, and the
difference to the bare interpreter's, which is what Ostiary's imports and work cost.

The commands run against a throwaway SQLite database and master key, with no ``OSTIARY_*``
of the caller's environment. Only ``ostiary serve`` imports the web stack; the architecture
test (tests/unit/test_architecture.py) holds that, this measures what it buys.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from benchmarks._common import median, render_table

COMMANDS: Final = (
    ("python -c pass", None),
    ("ostiary --help", ["--help"]),
    ("ostiary users list", ["users", "list"]),
    ("ostiary keys list", ["keys", "list"]),
    ("ostiary doctor", ["doctor"]),
)
LAUNCHER: Final = "import sys; from ostiary.cli import main; sys.argv = sys.argv[1:]; main()"
TIMEOUT: Final = 60.0


@dataclass(frozen=True, slots=True)
class StartupConfig:
    repeats: int = 15


QUICK: Final = StartupConfig(repeats=5)


@dataclass(slots=True)
class StartupReport:
    config: StartupConfig
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def header(self) -> str:
        return (
            f"Start-up of CLI commands (median wall time of {self.config.repeats} fresh "
            "processes after one untimed run)"
        )

    def table(self, *, markdown: bool = False) -> str:
        bare = median(self.seconds["python -c pass"])
        rows = []
        for name, times in self.seconds.items():
            ms = median(times) * 1000
            extra = "-" if name == "python -c pass" else f"{ms - bare * 1000:.0f}"
            rows.append([name, f"{ms:.0f}", extra])
        return render_table(["command", "ms", "ms beyond python"], rows, markdown=markdown)


def run(config: StartupConfig, log: Callable[[str], None] = print) -> StartupReport:
    from ostiary.keys.encryption import MasterKey

    report = StartupReport(config)
    with tempfile.TemporaryDirectory(prefix="ostiary-bench-startup-") as tmp:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.upper().startswith("OSTIARY_")},
            "OSTIARY_DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'ostiary.db'}",
            "OSTIARY_MASTER_KEY": MasterKey.new_text(),
        }
        for name, arguments in COMMANDS:
            if arguments is None:
                command = [sys.executable, "-c", "pass"]
            else:
                command = [sys.executable, "-c", LAUNCHER, "ostiary", *arguments]
            times = []
            for attempt in range(config.repeats + 1):
                started = time.perf_counter()
                done = subprocess.run(
                    command,
                    cwd=tmp,
                    env=environment,
                    capture_output=True,
                    timeout=TIMEOUT,
                    check=False,
                )
                elapsed = time.perf_counter() - started
                if done.returncode not in (0, 1):  # doctor exits 1 when a check fails
                    raise RuntimeError(f"{name} exited {done.returncode}: {done.stderr[-500:]!r}")
                if attempt:
                    times.append(elapsed)
            report.seconds[name] = times
            log(f"  {name:<20} {median(times) * 1000:6.0f} ms")
    return report
