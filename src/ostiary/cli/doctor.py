"""``ostiary doctor``: check the deployment that ``ostiary serve`` would run, from the same
``OSTIARY_*`` settings."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated

import typer

from ostiary.cli._command_setup import operator_settings
from ostiary.cli._output import print_json


def doctor(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the checks as JSON instead of lines.")
    ] = False,
) -> None:
    """Check the settings, database, clock and signing keys: one PASS/WARN/FAIL line each,
    with the fix. Exits 1 if any check fails. Reads only; prints no secret."""
    from ostiary.doctor import exit_code, run_checks

    checks = asyncio.run(run_checks(operator_settings()))
    if json_output:
        print_json({"ok": exit_code(checks) == 0, "checks": [asdict(c) for c in checks]})
    else:
        for check in checks:
            line = f"{check.status.value}  {check.name}: {check.found}"
            typer.echo(printable(line + (f" -- fix: {check.fix}" if check.fix else "")))
        counts = {s: sum(c.status.value == s for c in checks) for s in ("PASS", "WARN", "FAIL")}
        typer.echo(f"{counts['PASS']} passed, {counts['WARN']} warnings, {counts['FAIL']} failed")
    raise typer.Exit(exit_code(checks))


def printable(text: str) -> str:
    """Settings come from the environment: never let one send terminal control sequences."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
