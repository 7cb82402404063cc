"""Attack: a JSON depth bomb. A body of nothing but opening brackets makes a recursive parser
recurse once per byte: a ``RecursionError`` (a 500 where nobody caught it) or, in parsers that
copy at each level, quadratic work. The depth is checked by a linear scan before parsing, so
each shape below is a plain 400 ``invalid_request``, fast."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final

import pytest

from ostiary.errors import InvalidRequest
from ostiary.server.body import parse_object
from tests.http._server import running, settings_for

JSON: Final = {"Content-Type": "application/json"}
MEGABYTE: Final = 1_000_000
BOMBS: Final = {
    "open arrays": b"[" * MEGABYTE,
    "open objects": b'{"a":' * (MEGABYTE // 5),
    "closed arrays": b"[" * (MEGABYTE // 2) + b"]" * (MEGABYTE // 2),
    "inside a member": b'{"username":' + b"[" * (MEGABYTE - 20) + b"}",
}
UNCLOSED_STRINGS: Final = b'{"a":"' + b'\\"' * (MEGABYTE // 2)


@pytest.mark.parametrize("bomb", BOMBS.values(), ids=BOMBS.keys())
def test_a_depth_bomb_is_refused_fast(bomb: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidRequest, match="nested deeper than 32 levels"):
        parse_object(bomb)
    assert time.perf_counter() - started < 0.5


def test_escaped_quotes_cannot_make_the_scan_quadratic() -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        parse_object(UNCLOSED_STRINGS)
    assert time.perf_counter() - started < 0.5


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
