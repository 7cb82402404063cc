"""Input limits answered cleanly: headers (431), bodies chunked or not (413), form fields, JSON
depth and huge numbers (400). RFC 6749 errors on the token-ish endpoints, RFC 9457 problems
elsewhere; never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ._server import Server, oauth, problem, running, settings_for

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HEADERS_DESCRIPTION = "The request headers are too large or too many."
HEADERS_PROBLEM = problem(431, "Request Header Fields Too Large", HEADERS_DESCRIPTION)
HEADERS_OAUTH = oauth("invalid_request", HEADERS_DESCRIPTION)
TOO_LARGE = oauth("invalid_request", "The request body is larger than 65536 bytes.")
TOO_DEEP = oauth("invalid_request", "The JSON body is nested deeper than 32 levels.")
NOT_JSON = oauth("invalid_request", "The request body is not valid JSON.")
TOO_MANY_FIELDS = oauth("invalid_request", "The form body is malformed or has too many fields.")


def nested(depth: int) -> bytes:
    """``{"username": [[...]]}``: ``depth`` levels, the object included."""
    return b'{"username": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


# --- headers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/healthz", HEADERS_PROBLEM),
        ("/auth/login", HEADERS_OAUTH),
        ("/oauth/token", HEADERS_OAUTH),
    ],
)
async def test_headers_over_the_byte_limit_are_431(
    server: Server, path: str, expected: dict[str, object]
) -> None:
    response = await server.client.post(path, headers={"X-Padding": "a" * 16_384})
    assert (response.status_code, response.json()) == (431, expected)
    assert response.headers["cache-control"] == "no-store"


async def test_too_many_headers_are_431(server: Server) -> None:
    headers = [(f"x-h{i}", "1") for i in range(101)]
    response = await server.client.get("/healthz", headers=headers)
    assert (response.status_code, response.json()) == (431, HEADERS_PROBLEM)


async def test_headers_within_the_limits_pass(server: Server) -> None:
    headers = [(f"x-h{i}", "a" * 100) for i in range(90)]  # ~9.5 KiB, with httpx's own
    response = await server.client.get("/healthz", headers=headers)
    assert response.status_code == 200


async def test_the_header_limits_are_settings(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, max_header_bytes=4096, max_header_count=16)
    async with running(settings) as srv:
        big = await srv.client.get("/healthz", headers={"X-Padding": "a" * 4096})
        many = await srv.client.get("/healthz", headers=[(f"x-h{i}", "1") for i in range(16)])
        fine = await srv.client.get("/healthz", headers={"X-Padding": "a" * 3000})
    assert (big.status_code, many.status_code, fine.status_code) == (431, 431, 200)


# --- bodies ------------------------------------------------------------------------------


async def chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b"a" * size


@pytest.mark.parametrize(("path", "headers"), [("/auth/login", JSON), ("/oauth/token", FORM)])
async def test_a_chunked_body_over_the_limit_is_413(
    server: Server, path: str, headers: dict[str, str]
) -> None:
    response = await server.client.post(path, content=chunks(128 * 1024), headers=headers)
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (413, TOO_LARGE)


async def test_a_form_post_over_the_limit_is_413(server: Server) -> None:
    response = await server.client.post("/oauth/token", data={"scope": "a" * 70_000})
    assert (response.status_code, response.json()) == (413, TOO_LARGE)


async def test_a_form_with_too_many_fields_is_400(server: Server) -> None:
    body = "&".join(f"f{i}=1" for i in range(51)).encode()
    response = await server.client.post("/oauth/token", content=body, headers=FORM)
    assert (response.status_code, response.json()) == (400, TOO_MANY_FIELDS)


async def test_a_form_at_the_field_limit_is_read(server: Server) -> None:
    body = "&".join(f"f{i}=1" for i in range(50)).encode()
    response = await server.client.post("/oauth/token", content=body, headers=FORM)
    assert response.status_code == 400
    assert response.json()["error_description"] != TOO_MANY_FIELDS["error_description"]


# --- JSON --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/auth/refresh"])
async def test_json_deeper_than_the_limit_is_400(server: Server, path: str) -> None:
    response = await server.client.post(path, content=nested(33), headers=JSON)
    assert (response.status_code, response.json()) == (400, TOO_DEEP)


async def test_json_at_the_depth_limit_is_parsed(server: Server) -> None:
    response = await server.client.post("/auth/login", content=nested(32), headers=JSON)
    assert response.status_code == 400
    assert response.json()["error_description"].startswith("Invalid request: ")


async def test_brackets_inside_strings_do_not_count(server: Server) -> None:
    body = b'{"username": "' + b"[" * 1000 + b'", "password": "x"}'
    response = await server.client.post("/auth/login", content=body, headers=JSON)
    assert response.status_code == 401


async def test_the_depth_limit_is_a_setting(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, max_json_depth=4)) as srv:
        response = await srv.client.post("/auth/login", content=nested(5), headers=JSON)
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The JSON body is nested deeper than 4 levels."),
    )


async def test_a_number_of_5000_digits_is_400(server: Server) -> None:
    body = b'{"username": ' + b"9" * 5000 + b', "password": "x"}'
    response = await server.client.post("/auth/login", content=body, headers=JSON)
    assert (response.status_code, response.json()) == (400, NOT_JSON)


async def test_a_deep_body_on_a_problem_path_is_a_problem(server: Server) -> None:
    login = await server.login()
    response = await server.client.post(
        "/auth/password",
        content=nested(40),
        headers={**JSON, "Authorization": f"Bearer {login['access_token']}"},
    )
    assert (response.status_code, response.json()) == (
        400,
        problem(400, "Bad Request", "The JSON body is nested deeper than 32 levels."),
    )
