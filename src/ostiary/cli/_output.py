"""What every command prints, the same way for all of them:

- a result is one JSON document on stdout, indented by two spaces; a stream (``audit tail``)
  is JSON Lines, one compact object a line, as the server logs its events;
- a message goes to stderr as ``error: ...``, ``warning: ...`` or a plain note, worded as a
  sentence (a capital, a full stop) like the HTTP API's ``error_description``: an error of the
  domain reads the same from the command line as from an endpoint;
- exit codes: 0 done, 1 the operation failed or was refused (nothing changed), 2 the settings
  are wrong; a wrong command line gets Click's usage message (the usage, where to find help,
  ``Error: ...``), exit 2 too.

All of it is ASCII, so that a hostile token or event cannot send terminal controls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final, NoReturn

import typer

from ostiary.errors import InvalidClaims, InvalidToken, OstiaryError

#: Exit status of a command that failed or was refused.
FAILED: Final = 1
#: Exit status of a wrong command line or wrong settings (Click's own).
USAGE: Final = 2
# A first word in plain lower case ("cannot read ..."), not "private_key_jwt" or "memory://".
_PLAIN_FIRST_WORD: Final = re.compile(r"[a-z]+[ ,]")


def print_json(value: Any) -> None:
    """A result: pretty JSON on stdout."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=True))


def print_json_line(value: Any) -> None:
    """One item of a stream: compact JSON on one line of stdout (flushed at once)."""
    typer.echo(json.dumps(value, separators=(",", ":"), ensure_ascii=True))


def note(message: str) -> None:
    """Something the person at the terminal should know that is neither result nor warning."""
    typer.echo(sentence(message), err=True)


def warn(message: str) -> None:
    typer.echo(f"warning: {sentence(message)}", err=True)


def fail(message: str, *, code: int = FAILED, lines: Sequence[str] = ()) -> NoReturn:
    """Print ``error: message`` on stderr, then each of ``lines`` indented, and exit with
    ``code``."""
    typer.echo(f"error: {sentence(message)}", err=True)
    for line in lines:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(code)


def sentence(message: str) -> str:
    """``message`` worded as a sentence: a lower-case first word capitalized (never a name
    like ``private_key_jwt``, a URL or an option), and a full stop added to a one-line
    message that ends without one (a message ending in ``:`` introduces what follows)."""
    text = message.strip()
    if _PLAIN_FIRST_WORD.match(text):
        text = text[0].upper() + text[1:]
    ends_bare = text[-1:].isalnum() or text.endswith((")", "'", '"', "]"))
    if "\n" not in text and ends_bare:
        text += "."
    return text


def describe(exc: OstiaryError) -> str:
    """An error's public description, and its private detail when there is one:
    ``The token has expired (exp is in the past).``"""
    description = sentence(exc.description)
    if not exc.detail:
        return description
    return f"{description.removesuffix('.')} ({exc.detail})."


def token_failures(exc: InvalidToken) -> list[str]:
    """One line per failed check, ``reason: description (detail)``; several for InvalidClaims."""
    errors = exc.errors if isinstance(exc, InvalidClaims) else (exc,)
    return [f"{error.reason}: {describe(error)}" for error in errors]
