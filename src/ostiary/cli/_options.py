"""Options that several commands share, declared once so that they read the same in every
``--help``."""

from __future__ import annotations

from typing import Annotated

import typer

Offset = Annotated[
    int,
    typer.Option(min=0, metavar="N", help="Skip this many, for the next page (oldest first)."),
]
Limit = Annotated[
    int, typer.Option(min=1, max=1000, metavar="N", help="Print at most this many (1 to 1000).")
]
