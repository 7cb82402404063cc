"""Attack: a header flood. Thousands of header lines, or one huge header, cost memory and
per-header work in every layer that looks at them (cookies, forwarded-for, auth). The app
answers 431 (RFC 6585 §5) before any route reads a header, in the error shape of the path."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

from tests.http._server import running, settings_for

DESCRIPTION: Final = "The request headers are too large or too many."
FLOODS: Final = {
    "many small": [(f"x-f{i}", "1") for i in range(5_000)],
    "repeated cookie": [("cookie", f"c{i}=1") for i in range(1_000)],
    "one huge": [("x-padding", "a" * 1_000_000)],
    "huge authorization": [("authorization", "Bearer " + "a" * 200_000)],
}


@pytest.mark.parametrize("headers", FLOODS.values(), ids=FLOODS.keys())
async def test_a_header_flood_is_431(tmp_path: Path, headers: list[tuple[str, str]]) -> None:
    async with running(settings_for(tmp_path)) as server:
        problem = await server.client.get("/auth/me", headers=headers)
        oauth = await server.client.post("/oauth/token", headers=headers)
    assert (problem.status_code, problem.json()["detail"]) == (431, DESCRIPTION)
    assert problem.headers["content-type"] == "application/problem+json"
    assert (oauth.status_code, oauth.json()) == (
        431,
        {"error": "invalid_request", "error_description": DESCRIPTION},
    )
