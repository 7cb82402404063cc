"""Bad input never makes a 500: malformed JSON, wrong types, huge bodies, unknown paths.
RFC 6749 errors on the token-ish endpoints, RFC 9457 problems elsewhere, and a bare 500 for
whatever nobody expected."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ostiary.storage import MemoryStorage, StorageError
from ostiary.storage.memory import MemoryUserStore
from ostiary.storage.records import User

from ._server import PASSWORD, Server, bearer, oauth, problem, running, settings_for

JSON = {"Content-Type": "application/json"}
TOKEN_PATHS = ["/auth/login", "/auth/refresh", "/auth/register"]
NOT_JSON = oauth("invalid_request", "The request body is not valid JSON.")
NOT_AN_OBJECT = oauth("invalid_request", "The request body must be a JSON object.")
TOO_LARGE = oauth("invalid_request", "The request body is larger than 65536 bytes.")
WRONG_MEDIA = oauth(
    "invalid_request", "The request body must be JSON, sent with Content-Type: application/json."
)


@pytest.mark.parametrize("path", TOKEN_PATHS)
@pytest.mark.parametrize(
    "body", [b"{", b"", b"{'a': 1}", b"\xff\xfe", b"[1,", b'{"a": NaN}'], ids=repr
)
async def test_malformed_json_is_400(server: Server, path: str, body: bytes) -> None:
    response = await server.client.post(path, content=body, headers=JSON)
    assert (response.status_code, response.json()) == (400, NOT_JSON)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", TOKEN_PATHS)
@pytest.mark.parametrize("body", [b"[]", b'"text"', b"null", b"42"])
async def test_a_body_that_is_not_an_object_is_400(server: Server, path: str, body: bytes) -> None:
    response = await server.client.post(path, content=body, headers=JSON)
    assert (response.status_code, response.json()) == (400, NOT_AN_OBJECT)


async def test_deeply_nested_json_is_400_not_500(tmp_path: Path) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    # the 64 KiB cap would answer first: raise it for this test
    async with running(settings_for(tmp_path, max_body_bytes=1_000_000)) as srv:
        response = await srv.client.post("/auth/login", content=body, headers=JSON)
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The JSON body is nested deeper than 32 levels."),
    )


async def test_a_repeated_member_is_400(server: Server) -> None:
    body = b'{"username": "alice", "password": "x", "password": "' + PASSWORD.encode() + b'"}'
    response = await server.client.post("/auth/login", content=body, headers=JSON)
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The JSON body repeats a member name."),
    )


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"password": PASSWORD}, "Invalid request: 'username' is required."),
        (
            {"username": 7, "password": PASSWORD},
            "Invalid request: 'username': Input should be a valid string.",
        ),
        (
            {"username": "alice", "password": ["x"]},
            "Invalid request: 'password': Input should be a valid string.",
        ),
        (
            {"username": None, "password": None},
            "Invalid request: 'username': Input should be a valid string; "
            "'password': Input should be a valid string.",
        ),
    ],
)
async def test_wrong_types_are_400_with_a_clear_message(
    server: Server, body: dict[str, Any], description: str
) -> None:
    response = await server.client.post("/auth/login", json=body)
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", description),
    )


async def test_the_message_never_repeats_the_input(server: Server) -> None:
    secret = "my-secret-password-12345"
    response = await server.client.post("/auth/login", json={"username": "a", "password": [secret]})
    assert response.status_code == 400
    assert secret not in response.text


async def test_a_refresh_token_of_the_wrong_type_is_400(server: Server) -> None:
    response = await server.client.post("/auth/refresh", json={"refresh_token": 12})
    assert (response.status_code, response.json()) == (
        400,
        oauth(
            "invalid_request", "Invalid request: 'refresh_token': Input should be a valid string."
        ),
    )


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_a_body_that_is_not_json_is_415(server: Server, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await server.client.post(
        "/auth/login", content=b'{"username": "alice"}', headers=headers
    )
    assert (response.status_code, response.json()) == (415, WRONG_MEDIA)


async def test_json_with_a_charset_is_accepted(server: Server) -> None:
    response = await server.client.post(
        "/auth/login",
        content=b'{"username": "alice", "password": "' + PASSWORD.encode() + b'"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


async def test_a_body_over_64_kib_is_413(server: Server) -> None:
    body = b'{"username": "' + b"a" * 70_000 + b'"}'
    response = await server.client.post("/auth/login", content=body, headers=JSON)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)


async def test_a_chunked_body_over_64_kib_is_413(server: Server) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 10_000

    response = await server.client.post("/auth/login", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (413, TOO_LARGE)


async def test_a_body_of_exactly_the_limit_is_read(server: Server) -> None:
    body = b'{"username": "alice", "password": "' + PASSWORD.encode() + b'"}'
    body += b" " * (65_536 - len(body))
    response = await server.client.post("/auth/login", content=body, headers=JSON)
    assert response.status_code == 200


async def test_413_elsewhere_is_a_problem(server: Server) -> None:
    tokens = await server.login()
    response = await server.client.post(
        "/auth/password", content=b" " * 70_000, headers={**JSON, **bearer(tokens["access_token"])}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(
        413, "Content Too Large", "The request body is larger than 65536 bytes."
    )


async def test_an_unknown_path_is_a_404_problem(server: Server) -> None:
    response = await server.client.get("/nothing/here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(404, "Not Found", "There is nothing at this path.")


async def test_a_wrong_method_is_405_with_allow(server: Server) -> None:
    response = await server.client.get("/auth/login")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == oauth("invalid_request", "This method is not allowed on this path.")
    response = await server.client.put("/auth/me")
    assert response.json() == problem(
        405, "Method Not Allowed", "This method is not allowed on this path."
    )


# --- failures nobody expected ------------------------------------------------------------


class BrokenUsers(MemoryUserStore):
    """Fails lookups by username with ``exc``, and lookups by id after ``break_get()``."""

    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc
        self.get_fails = False

    async def get_by_username(self, username: str) -> User | None:
        if not self.get_fails:
            raise self.exc
        return await super().get_by_username(username)

    async def get(self, user_id: str) -> User | None:
        if self.get_fails:
            raise self.exc
        return await super().get(user_id)


async def broken_server_answer(
    tmp_path: Path, exc: Exception, path: str = "/auth/login"
) -> tuple[int, dict[str, Any], str]:
    storage = MemoryStorage()
    storage.users = BrokenUsers(exc)
    async with running(settings_for(tmp_path), storage=storage) as srv:
        response = await srv.client.post(path, json={"username": "alice", "password": PASSWORD})
    return response.status_code, response.json(), response.text


async def test_an_unexpected_exception_is_a_bare_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="ostiary.server"):
        status, body, text = await broken_server_answer(tmp_path, RuntimeError("internal secret"))
    assert (status, body) == (500, oauth("server_error", "The server met an unexpected condition."))
    assert "internal secret" not in text and "Traceback" not in text
    assert "RuntimeError" in caplog.text  # the traceback is logged, not sent


async def test_an_unexpected_exception_on_register_is_a_500(tmp_path: Path) -> None:
    status, body, _ = await broken_server_answer(tmp_path, KeyError("x"), path="/auth/register")
    assert (status, body) == (500, oauth("server_error", "The server met an unexpected condition."))


async def test_a_storage_failure_is_503(tmp_path: Path) -> None:
    status, body, text = await broken_server_answer(tmp_path, StorageError("db down: password=x"))
    assert (status, body) == (
        503,
        oauth(
            "temporarily_unavailable", "The service is temporarily unable to handle the request."
        ),
    )
    assert "password=x" not in text


async def test_an_unexpected_exception_on_other_paths_is_a_500_problem(tmp_path: Path) -> None:
    storage = MemoryStorage()
    users = UsersBrokenLater(RuntimeError("boom"))
    storage.users = users
    async with running(settings_for(tmp_path), storage=storage) as srv:
        await srv.add_user("alice")
        tokens = await srv.login()
        users.broken = True
        response = await srv.profile(tokens["access_token"])
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(
        500, "Internal Server Error", "The server met an unexpected condition."
    )


class UsersBrokenLater(MemoryUserStore):
    """Works until ``broken`` is set, then fails every lookup by id with ``exc``."""

    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc
        self.broken = False

    async def get(self, user_id: str) -> User | None:
        if self.broken:
            raise self.exc
        return await super().get(user_id)


# --- no 500 for any bad input ------------------------------------------------------------

BAD_REQUESTS: list[tuple[str, str, dict[str, str], bytes]] = [
    ("POST", "/auth/login", JSON, b'{"username": "\\ud800", "password": "x"}'),
    ("POST", "/auth/login", JSON, b'{"username": "' + b"a" * 5000 + b'", "password": "x"}'),
    ("POST", "/auth/login", JSON, b'{"username": "", "password": ""}'),
    ("POST", "/auth/register", JSON, b'{"username": "\\u0000", "password": "xxxxxxxxxxxxxxx"}'),
    ("POST", "/auth/register", JSON, b'{"username": "bob", "password": "' + b"x" * 2000 + b'"}'),
    ("POST", "/auth/refresh", JSON, b'{"refresh_token": "\\u0000"}'),
    ("POST", "/auth/refresh", JSON, b'{"refresh_token": 1e999}'),
    ("POST", "/auth/logout", {"Authorization": "Bearer"}, b""),
    ("POST", "/auth/logout", {"Authorization": "Bearer a.b.c"}, b""),
    ("POST", "/auth/logout", {"Authorization": "Bearer " + "a" * 20_000}, b""),
    ("GET", "/auth/me", {"Authorization": "Basic YWxpY2U6cHc="}, b""),
    ("GET", "/auth/revocations?since=99999999999999999999999", {}, b""),
    ("DELETE", "/auth/sessions/%00", {}, b""),
    ("GET", "/.well-known/jwks.json?x=%ff", {}, b""),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), BAD_REQUESTS)
async def test_no_bad_input_makes_a_500(
    server: Server, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    response = await server.client.request(method, path, headers=headers, content=body)
    assert 200 <= response.status_code < 500, response.text
