"""Attack: a JSON depth bomb. A body of nothing but opening brackets makes a recursive parser
recurse once per byte: a ``RecursionError`` (a 500 where nobody caught it) or, in parsers that
copy at each level, quadratic work. The depth is checked by a scan before parsing, which
stops one bracket past the limit, so each shape below is a plain 400 ``invalid_request`` that
never reaches the parser and costs the scan a few dozen steps, whatever the size of the body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import pytest

from ostiary.errors import InvalidRequest
from ostiary.server.body import _TOKEN, MAX_DEPTH, nesting_depth, parse_object
from tests.http._server import running, settings_for
from tests.unit._work import counting

JSON: Final = {"Content-Type": "application/json"}
MEGABYTE: Final = 1_000_000
BOMBS: Final = {
    "open arrays": b"[" * MEGABYTE,
    "open objects": b'{"a":' * (MEGABYTE // 5),
    "closed arrays": b"[" * (MEGABYTE // 2) + b"]" * (MEGABYTE // 2),
    "inside a member": b'{"username":' + b"[" * (MEGABYTE - 20) + b"}",
}
UNCLOSED_STRINGS: Final = b'{"a":"' + b'\\"' * (MEGABYTE // 2)
#: Lines the scan may run per bracket or string it reads: its loop is a handful of lines.
LINES_PER_TOKEN: Final = 10


@pytest.mark.parametrize("bomb", BOMBS.values(), ids=BOMBS.keys())
def test_a_depth_bomb_is_refused_before_the_parser(bomb: bytes) -> None:
    with (
        counting(nesting_depth, json.loads) as work,
        pytest.raises(InvalidRequest, match="nested deeper than 32 levels"),
    ):
        parse_object(bomb)
    assert work.calls == {"nesting_depth": 1, "loads": 0}
    # One bracket past the limit and no further: a megabyte costs what 33 levels cost (a level
    # of objects is two tokens, the bracket and the member name).
    assert work.lines["nesting_depth"] <= LINES_PER_TOKEN * 2 * (MAX_DEPTH + 2)


def test_escaped_quotes_cannot_make_the_scan_quadratic() -> None:
    """The unclosed string is one token that runs to the end of the body (the scan's pattern
    takes a string's closing quote as optional), read once. A pattern that wanted the closing
    quote would fail there and try again from every later quote, reading the rest of the body
    once per quote, and find no token at all."""
    tokens = [token.span() for token in _TOKEN.finditer(UNCLOSED_STRINGS)]
    assert tokens == [(0, 1), (1, 4), (5, len(UNCLOSED_STRINGS))]  # {, "a", and the rest
    with (
        counting(nesting_depth, json.loads) as work,
        pytest.raises(InvalidRequest, match="not valid JSON"),
    ):
        parse_object(UNCLOSED_STRINGS)
    assert work.calls == {"nesting_depth": 1, "loads": 1}


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/auth/refresh"])
async def test_a_depth_bomb_at_the_server_is_400(tmp_path: Path, path: str) -> None:
    settings = settings_for(tmp_path, max_body_bytes=2 * MEGABYTE)  # past the 64 KiB cap
    async with running(settings) as server:
        response = await server.client.post(path, content=BOMBS["open arrays"], headers=JSON)
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_request",
            "error_description": "The JSON body is nested deeper than 32 levels.",
        },
    )
