"""Malformed Unicode as a denial of service (CWE-20, CWE-176): JSON may spell a lone UTF-16
surrogate (``"\\ud800"``), which Python decodes into a ``str`` that cannot be encoded to
UTF-8. Such a username or password reached the throttle's keyed digest and the argon2 hasher,
which encode it, and ``POST /auth/login`` answered 500 (so did ``/auth/register`` and
``/auth/password``): a 500 that anyone can cause at will is an alert storm and, with a
crash-looping worker, an outage.

Every body is refused at the door instead, as a 400 ``invalid_request``: a lone surrogate or
a NUL anywhere in a JSON body (names included) or a form. The domain defends itself too: the
throttle and the hasher never crash on such a string.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import pytest

from ostiary.authn.passwords import PasswordHasher, PasswordPolicy
from ostiary.authn.throttle import Throttle, ThrottlePolicy
from ostiary.errors import WeakPassword
from ostiary.storage.rate_limits import rate_limit_storage
from tests.http._server import FAST_ARGON2, PASSWORD, Server, bearer, running, settings_for

SURROGATE: Final = "\\ud800"  # as JSON spells it: the body stays valid UTF-8
JSON: Final = {"Content-Type": "application/json"}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """Rate limits on, as in production: the throttle is where a surrogate username broke."""
    async with running(settings_for(tmp_path, rate_limits_enabled=True)) as srv:
        await srv.add_user("alice")
        yield srv


def body(**fields: str) -> bytes:
    """A JSON object whose string values are written as given (JSON escapes kept)."""
    members = ", ".join(f'"{name}": "{value}"' for name, value in fields.items())
    return ("{" + members + "}").encode()


def assert_invalid_request(status: int, answer: dict[str, Any]) -> None:
    assert status == 400, answer
    error = answer.get("error") or ("invalid_request" if answer.get("status") == 400 else None)
    assert error == "invalid_request", answer


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/auth/login", {"username": SURROGATE, "password": "x"}),
        ("/auth/login", {"username": "alice", "password": SURROGATE}),
        ("/auth/login", {"username": "al" + SURROGATE + "ice", "password": PASSWORD}),
        ("/auth/login", {"username": "alice", "password": "\\udfff" + PASSWORD}),
        ("/auth/login", {"username": "alice\\u0000", "password": PASSWORD}),
        ("/auth/login", {"username": "alice", "password": PASSWORD + "\\u0000"}),
        ("/auth/register", {"username": SURROGATE, "password": PASSWORD}),
        ("/auth/register", {"username": "bob", "password": PASSWORD + SURROGATE}),
        ("/auth/register", {"username": "bob", "password": PASSWORD + "\\u0000"}),
        ("/auth/refresh", {"refresh_token": SURROGATE}),
    ],
)
async def test_a_lone_surrogate_or_nul_in_a_body_is_400(
    server: Server, path: str, fields: dict[str, str]
) -> None:
    answer = await server.client.post(path, content=body(**fields), headers=JSON)
    assert_invalid_request(answer.status_code, answer.json())


async def test_a_surrogate_member_name_is_400(server: Server) -> None:
    content = b'{"username": "alice", "password": "x", "\\ud800": 1}'
    answer = await server.client.post("/auth/login", content=content, headers=JSON)
    assert_invalid_request(answer.status_code, answer.json())


@pytest.mark.parametrize(
    "fields",
    [
        {"current_password": SURROGATE, "new_password": "a new long password"},
        {"current_password": PASSWORD, "new_password": "a new long password" + SURROGATE},
        {"current_password": PASSWORD + "\\u0000", "new_password": "a new long password"},
    ],
)
async def test_the_password_change_refuses_them_too(server: Server, fields: dict[str, str]) -> None:
    token = (await server.login())["access_token"]
    answer = await server.client.post(
        "/auth/password", content=body(**fields), headers={**JSON, **bearer(token)}
    )
    assert_invalid_request(answer.status_code, answer.json())


@pytest.mark.parametrize(
    "form",
    [
        b"grant_type=password&username=%ED%A0%80&password=x",  # a surrogate in UTF-8: invalid
        b"grant_type=client_credentials&client_id=app%00&client_secret=x",
        b"grant_type=client_credentials&client_id=app&client_secret=%C0%80",  # overlong NUL
    ],
)
async def test_a_form_with_them_is_400(server: Server, form: bytes) -> None:
    answer = await server.client.post(
        "/oauth/token",
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_invalid_request(answer.status_code, answer.json())


async def test_a_login_still_works(server: Server) -> None:
    """The control case: a well-formed login with non-ASCII text passes the door."""
    await server.add_user("zoë")
    answer = await server.client.post("/auth/login", json={"username": "ZOË", "password": PASSWORD})
    assert answer.status_code == 200, answer.text


# --- defence in depth: the domain never crashes on such a string -------------------------


async def test_the_throttle_digests_a_lone_surrogate() -> None:
    throttle = Throttle(rate_limit_storage(None), ThrottlePolicy(), secret=b"s" * 32)
    try:
        async with throttle.login_attempt("\ud800", "203.0.113.7\udfff"):
            pass
        await throttle.check_register("\ud800")
        await throttle.check_token("\ud800", None)
    finally:
        await throttle.close()


async def test_the_hasher_refuses_nothing_it_cannot_hash() -> None:
    hasher = PasswordHasher(
        memory_cost=FAST_ARGON2["argon2_memory_kib"], time_cost=FAST_ARGON2["argon2_time_cost"]
    )
    try:
        stored = await hasher.hash(PASSWORD)
        assert await hasher.verify(stored, "\ud800") is False
        await hasher.verify_dummy("\ud800")
    finally:
        hasher.close()


@pytest.mark.parametrize("password", ["\ud800" * 12, "x" * 12 + "\x00", "tab\tand more text"])
def test_the_password_policy_refuses_unencodable_and_control_characters(password: str) -> None:
    with pytest.raises(WeakPassword):
        PasswordPolicy().check(password)
