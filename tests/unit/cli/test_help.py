"""Every ``--help`` at 80 columns: whole option names, a metavar for each option that takes a
value and none for a flag (no ``<bool>``, ``<str>``), a help text for every option; and a
wrong command line answered in plain lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ostiary.cli.app import app

COLUMNS = 80
#: Typer's label of a value's type: <str>, <list[str]>, <int range>, <file>.
TYPE_LABEL = re.compile(r"<[a-z][^>]*>")


# Click's classes: those of click, or of the copy of it that newer Typers carry.
Command = Any


def commands(group: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command and group under ``group``, itself included."""
    yield path
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name)


def command_at(path: tuple[str, ...]) -> Command:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


ALL = list(commands(typer.main.get_group(app)))


@pytest.fixture
def narrow() -> CliRunner:
    return CliRunner(env={"COLUMNS": str(COLUMNS)})


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_help_fits_80_columns_and_names_every_option_whole(
    narrow: CliRunner, path: tuple[str, ...]
) -> None:
    result = narrow.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert not [line for line in text.splitlines() if len(line) > COLUMNS]
    assert "…" not in text
    assert "<bool>" not in text
    options = [line.strip() for line in text.splitlines() if line.strip().startswith("-")]
    assert not [line for line in options if TYPE_LABEL.search(line)]  # a METAVAR instead
    for param in command_at(path).params:
        if getattr(param, "hidden", False):
            continue
        for name in (*param.opts, *param.secondary_opts):
            if name.startswith("-"):
                assert name in text


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_every_option_and_argument_has_help(path: tuple[str, ...]) -> None:
    command = command_at(path)
    for param in command.params:
        assert getattr(param, "help", None), f"{' '.join(path)}: {param.name} has no help"


def test_a_flag_has_no_metavar(narrow: CliRunner) -> None:
    text = narrow.invoke(app, ["clients", "create", "--help"]).stdout
    assert "--first-party " in text
    assert "--first-party <" not in text and "--first-party BOOL" not in text.upper()


def test_a_usage_error_is_clicks_plain_message(narrow: CliRunner) -> None:
    """The usage, where to find help and the error, in plain lines (no Rich panel)."""
    result = narrow.invoke(app, ["users", "list", "--limit", "0"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "Usage: ostiary users list [OPTIONS]"
    assert lines[1] == "Try 'ostiary users list --help' for help."
    assert lines[-1].startswith("Error: Invalid value for '--limit': ")
    assert not [line for line in lines if len(line) > COLUMNS]
    assert "╭" not in result.stderr
