"""What the benches share: targets, tables, medians and a description of the machine."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

#: The repository root: where the server and load-generator processes are started from.
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Target:
    """A figure that should reach ``threshold``; reported as PASS or MISS, never asserted."""

    name: str
    value: float
    threshold: float
    #: Why the figure cannot be trusted (e.g. non-200 responses); a MISS whatever the value.
    invalid: str = ""
    #: The figure should stay under ``threshold`` (e.g. memory) rather than reach it.
    below: bool = False
    #: The unit shown after value and threshold, e.g. " MB".
    unit: str = ""

    @property
    def passed(self) -> bool:
        if self.invalid:
            return False
        return self.value < self.threshold if self.below else self.value >= self.threshold

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "MISS"

    def line(self) -> str:
        note = f"  ({self.invalid})" if self.invalid else ""
        shown = ratio(self.value, up=self.below) + self.unit
        figure = f"{shown} (target {'<' if self.below else '>='} {self.threshold:g}{self.unit})"
        return f"{self.verdict}  {self.name}: {figure}{note}"


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool = False
) -> str:
    """A table as aligned text (first column left-aligned, the others right-aligned) or as
    a Markdown pipe table."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |"]
        lines.append(
            "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(headers))) + "|"
        )
        lines.extend("| " + " | ".join(row) + " |" for row in rows)
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(headers), rule, *(fmt(r) for r in rows)])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def machine_lines() -> list[str]:
    """Where the figures come from: CPU, cores, Python and the libraries that matter."""
    names = (
        "cryptography",
        "joserfc",
        "PyJWT",
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "pydantic",
        "SQLAlchemy",
        "aiosqlite",
        "asyncpg",
        "argon2-cffi",
    )
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (absent)")
    return [
        f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs (nproc {len(os.sched_getaffinity(0))})",
        f"Python {platform.python_version()} ({sys.implementation.name}), {platform.platform()}",
        "Libraries: " + ", ".join(versions) + f"; SQLite {sqlite3.sqlite_version}",
        f"Load average at start: {load_average()}",
    ]


def ratio(value: float, *, up: bool = False) -> str:
    """A ratio to three decimals (one from 10 up), truncated rather than rounded so that a
    figure under its target never shows as reaching it (1.1996 is 1.199, not 1.200); with
    ``up``, for a figure that must stay under its target, rounded up instead."""
    digits = 3 if abs(value) < 10 else 1
    scale = 10**digits
    scaled = math.ceil(round(value * scale, 6)) if up else math.floor(value * scale)
    return f"{scaled / scale:.{digits}f}"


def serve_one_worker(app: Any, port: int, *, lifespan: Literal["on", "off"]) -> None:
    """Run ``app`` as the benches' subprocess servers do: one uvicorn worker on loopback,
    uvloop and httptools, no access log."""
    import uvicorn  # the server extra: only the subprocess servers need it

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan=lifespan,
    )
