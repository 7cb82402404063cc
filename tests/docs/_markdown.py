"""The fenced code blocks of the README and docs/, and what each one says about itself.

A fence names its language. Python and shell blocks are run by ``test_snippets.py``; blocks of
output, diagrams and data say so with their language (``text``, ``console``, ``json``...). A
runnable block that must not run is marked on the line before its fence::

    <!-- snippet: skip it serves until stopped -->

and a block that goes on from the previous one of its language in the same page (as a reader
pastes them, one after the other) with ``<!-- snippet: continued -->``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).parents[2]
PYTHON: Final = frozenset({"python", "py"})
SHELL: Final = frozenset({"sh", "bash", "shell"})
#: Languages of blocks that are read, never run: output, diagrams, data.
NOT_CODE: Final = frozenset({"text", "console", "json", "toml", "yaml", "ini", "html", "nginx"})

_FENCE: Final = re.compile(r"^(?P<indent>\s*)```(?P<language>[^`\s]*)\s*$")
_MARKER: Final = re.compile(r"^\s*<!--\s*snippet:\s*(?P<body>.*?)\s*-->\s*$")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: where it starts, its language and text, and its marker."""

    path: Path
    #: The line of the opening fence, counted from 1.
    line: int
    language: str
    code: str
    #: The marker on the line before the fence (``skip ...``, ``continued``), if any.
    marker: str | None = None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.language in PYTHON | SHELL

    @property
    def skip_reason(self) -> str | None:
        """Why a runnable block is not run ("" when the marker gives no reason)."""
        if self.marker is None or self.marker.split(maxsplit=1)[0] != "skip":
            return None
        return self.marker.removeprefix("skip").strip()

    @property
    def continued(self) -> bool:
        return self.marker == "continued"

    def problems(self) -> list[str]:
        """What is wrong with how the block describes itself; nothing when it is right."""
        where = f"{self.name}:"
        if not self.language:
            return [f"{where} the fence names no language (python, sh; text for output)"]
        if not self.runnable and self.language not in NOT_CODE:
            return [f"{where} unknown language {self.language!r}"]
        if self.marker is None:
            return []
        if not (self.skip_reason is not None or self.continued):
            return [f"{where} unknown marker {self.marker!r} (skip REASON, or continued)"]
        if not self.runnable:
            return [f"{where} a {self.language} block is never run: it needs no marker"]
        if self.skip_reason == "":
            return [f"{where} a skipped snippet says why: <!-- snippet: skip REASON -->"]
        return []


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, in order, each dedented to its fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            body.append(lines[end][indent:])
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{index + 1}: a fence that is never closed")
        found.append(
            Block(
                path,
                index + 1,
                opening["language"].lower(),
                "\n".join(body) + "\n",
                _marker_before(lines, index),
            )
        )
        index = end + 1
    return found


def _marker_before(lines: list[str], fence: int) -> str | None:
    before = fence - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    marker = _MARKER.match(lines[before]) if before >= 0 else None
    return None if marker is None else marker["body"]


def documentation() -> list[Path]:
    """The README and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def with_what_it_continues(block: Block, blocks: list[Block]) -> str:
    """The code to run for ``block``: itself, after the blocks it continues."""
    if not block.continued:
        return block.code
    family = PYTHON if block.language in PYTHON else SHELL
    earlier = [b for b in blocks if b.line < block.line and b.language in family]
    if not earlier:
        raise ValueError(f"{block.name}: continues nothing (no earlier {block.language} block)")
    return with_what_it_continues(earlier[-1], blocks) + "\n" + block.code
