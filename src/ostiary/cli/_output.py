"""What every command prints: JSON on stdout, warnings and errors on stderr."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer

from ostiary.errors import InvalidClaims, InvalidToken, OstiaryError


def print_json(value: Any) -> None:
    """Pretty JSON on stdout. ASCII only, so a hostile token cannot send terminal controls."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=True))


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def describe(exc: OstiaryError) -> str:
    """An error's public description, and its private detail when there is one."""
    return f"{exc.description} ({exc.detail})" if exc.detail else exc.description


def token_failures(exc: InvalidToken) -> list[str]:
    """One line per failed check, ``reason: description (detail)``; several for InvalidClaims."""
    errors = exc.errors if isinstance(exc, InvalidClaims) else (exc,)
    return [f"{error.reason}: {describe(error)}" for error in errors]
