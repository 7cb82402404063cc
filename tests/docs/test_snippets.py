"""Every Python and shell block of README.md and docs/ runs as written, against the demo server
``make run`` starts, so that no snippet a reader copies can rot. Blocks that must not run are
marked with a reason (``tests/docs/_markdown.py`` says how)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._markdown import Block, blocks_of, documentation, with_what_it_continues
from ._run import DemoServers, refusal, run

pytestmark = pytest.mark.slow

PAGES = documentation()
BLOCKS = {page: blocks_of(page) for page in PAGES}
SNIPPETS = [
    block
    for blocks in BLOCKS.values()
    for block in blocks
    if block.runnable and block.skip_reason is None
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServers]:
    registry = DemoServers(tmp_path_factory.mktemp("docs"))
    try:
        yield registry
    finally:
        registry.close()


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_block_says_what_it_holds(page: Path) -> None:
    """A fence names its language; a marker is one of the two, and a skip says why."""
    problems = [problem for block in BLOCKS[page] for problem in block.problems()]
    assert problems == []


def test_the_pages_hold_snippets_to_run() -> None:
    """The extraction finds what is there (a parser that finds nothing passes everything)."""
    pages = {block.path.name for block in SNIPPETS}
    assert {"README.md", "quickstart.md", "resource.md"} <= pages
    assert len(SNIPPETS) >= 15
    assert {block.language for block in SNIPPETS} >= {"python", "sh"}


@pytest.mark.parametrize("block", SNIPPETS, ids=[block.name for block in SNIPPETS])
def test_the_snippet_runs(block: Block, servers: DemoServers, tmp_path: Path) -> None:
    code = with_what_it_continues(block, BLOCKS[block.path])
    refused = refusal(code)
    assert refused is None, f"{block.name}: {refused}"
    ran = run(block, code, servers.for_page(block.path), tmp_path)
    assert ran.returncode == 0, ran.explain(block, code)
