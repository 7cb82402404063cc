"""The ``ostiary`` command. It needs the ``server`` extra (Typer); the base install does not."""

from __future__ import annotations

import sys

MISSING_TYPER = "the ostiary command needs the server extra: pip install 'ostiary[server]'"


def main() -> None:
    """Entry point of the console script: run the Typer app, or say which extra is missing."""
    try:
        import typer  # noqa: F401  (only to learn whether the extra is installed)
    except ImportError:
        print(MISSING_TYPER, file=sys.stderr)
        raise SystemExit(2) from None
    from ostiary.cli.app import app

    app()
