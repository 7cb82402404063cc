"""What the benches share: targets, tables, medians and a description of the machine."""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

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

    @property
    def passed(self) -> bool:
        return not self.invalid and self.value >= self.threshold

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "MISS"

    def line(self) -> str:
        note = f"  ({self.invalid})" if self.invalid else ""
        figure = f"{ratio(self.value)} (target >= {self.threshold:g})"
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
    names = ("cryptography", "joserfc", "PyJWT", "fastapi", "starlette", "uvicorn", "uvloop")
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (absent)")
    return [
        f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs (nproc {len(os.sched_getaffinity(0))})",
        f"Python {platform.python_version()} ({sys.implementation.name}), {platform.platform()}",
        "Libraries: " + ", ".join(versions),
        f"Load average at start: {load_average()}",
    ]


def ratio(value: float) -> str:
    """A ratio to three decimals (one from 10 up), truncated rather than rounded so that a
    figure under its target never shows as reaching it (1.1996 is 1.199, not 1.200)."""
    digits = 3 if abs(value) < 10 else 1
    scale = 10**digits
    return f"{math.floor(value * scale) / scale:.{digits}f}"
