"""``python -m ostiary.cli``: the same as the ``ostiary`` console script."""

from __future__ import annotations

from ostiary.cli import main

main()
