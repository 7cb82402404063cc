"""CWE-117, log forging: request data written to the server's log with its control characters
intact. A path such as ``/x%0a<timestamp> INFO audit ...`` is percent-decoded by the server
(the ASGI ``path``), and every error line that names the path used to carry the newline: the
body-size and header caps, the catch-all, routing errors and every rendered error. The log then
held a standalone line of the attacker's choosing, indistinguishable from a real one.

Each test drives the real app and asserts that no line the server's loggers wrote holds a
control character, and that the forged text is still there, escaped, on the line it came in.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from ostiary.logtext import escape_controls
from ostiary.server.middleware import CatchAllMiddleware, Message, Receive, Scope, Send
from ostiary.storage import MemoryStorage
from ostiary.storage.memory import MemorySessionStore
from ostiary.storage.records import LoginSession
from tests.http._server import Server, bearer, running, settings_for

#: What the attacker wants a log reader to see as a line of its own.
FORGED: Final = "2025-01-01 00:00:00 INFO ostiary.audit user.role admin granted to mallory"
#: Line breaks, percent-encoded as they travel in the request target, and decoded. (Starlette's
#: ``request.url`` drops a decoded LF, CR or tab, but ``scope["path"]`` keeps them, and NEL and
#: the Unicode separators pass everywhere.)
BREAKS: Final = {"LF": ("%0A", "\n"), "NEL": ("%C2%85", "\x85"), "LS": ("%E2%80%A8", "\u2028")}
#: Other characters that end a line or rewrite a terminal: CR, NEL, LS, PS, ESC, NUL, DEL.
CONTROLS: Final = ["%0D", "%C2%85", "%E2%80%A8", "%E2%80%A9", "%1B%5B2J", "%00", "%7F"]


def server_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages of the server's own loggers (the test's HTTP client logs too)."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("ostiary")]


@dataclass(frozen=True)
class Forgery:
    path: str  # to append to a request path
    decoded: str  # what the server sees

    def assert_not_in(self, caplog: pytest.LogCaptureFixture, *, expect: str) -> None:
        """No line holds a control character, and the forged text is on the line of the error
        (the one that holds ``expect``), not on one of its own."""
        lines = server_lines(caplog)
        for line in lines:
            unsafe = [c for c in line if unicodedata.category(c) in {"Cc", "Zl", "Zp"}]
            assert unsafe == [], f"control characters {unsafe!r} in a log line: {line!r}"
        assert any(expect in line and FORGED in line for line in lines), lines


@pytest.fixture(params=sorted(BREAKS))
def forgery(request: pytest.FixtureRequest) -> Forgery:
    encoded, decoded = BREAKS[request.param]
    return Forgery(encoded + FORGED.replace(" ", "%20"), decoded + FORGED)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(settings_for(tmp_path)) as srv:
        await srv.add_user("alice")
        yield srv


async def test_a_routing_error_does_not_forge_a_line(
    server: Server, caplog: pytest.LogCaptureFixture, forgery: Forgery
) -> None:
    with caplog.at_level(logging.INFO, logger="ostiary"):
        response = await server.client.get("/no-such-page" + forgery.path)
    assert response.status_code == 404
    forgery.assert_not_in(caplog, expect="http_404")


async def test_the_body_size_cap_does_not_forge_a_line(
    server: Server, caplog: pytest.LogCaptureFixture, forgery: Forgery
) -> None:
    too_big = b"x" * (server.settings.max_body_bytes + 1)
    with caplog.at_level(logging.INFO, logger="ostiary"):
        response = await server.client.post("/auth/login" + forgery.path, content=too_big)
    assert response.status_code == 413
    forgery.assert_not_in(caplog, expect="invalid_request")


async def test_the_header_cap_does_not_forge_a_line(
    server: Server, caplog: pytest.LogCaptureFixture, forgery: Forgery
) -> None:
    headers = {f"x-filler-{i}": "y" for i in range(server.settings.max_header_count + 1)}
    with caplog.at_level(logging.INFO, logger="ostiary"):
        response = await server.client.get("/auth/me" + forgery.path, headers=headers)
    assert response.status_code == 431
    forgery.assert_not_in(caplog, expect="invalid_request")


async def test_a_rendered_error_does_not_forge_a_line(
    server: Server, caplog: pytest.LogCaptureFixture, forgery: Forgery
) -> None:
    """A route with a path parameter: the 404 ``not_found`` of an unknown session."""
    tokens = await server.login()
    with caplog.at_level(logging.INFO, logger="ostiary"):
        response = await server.client.delete(
            "/auth/sessions/nope" + forgery.path, headers=bearer(tokens["access_token"])
        )
    assert response.status_code == 404
    forgery.assert_not_in(caplog, expect="not_found")


class FailingSessions(MemorySessionStore):
    """Looking up the forged session id fails in a way nobody planned for."""

    async def get(self, session_id: str) -> LoginSession | None:
        if FORGED in session_id:
            raise RuntimeError("the unexpected")
        return await super().get(session_id)


async def test_the_catch_all_does_not_forge_a_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, forgery: Forgery
) -> None:
    storage = MemoryStorage()
    storage.sessions = FailingSessions()
    async with running(settings_for(tmp_path), storage=storage) as srv:
        await srv.add_user("alice")
        tokens = await srv.login()
        with caplog.at_level(logging.INFO, logger="ostiary"):
            response = await srv.client.delete(
                "/auth/sessions/x" + forgery.path, headers=bearer(tokens["access_token"])
            )
    assert response.status_code == 500
    forgery.assert_not_in(caplog, expect="unexpected RuntimeError")


async def test_the_catch_all_middleware_escapes_the_path(
    caplog: pytest.LogCaptureFixture, forgery: Forgery
) -> None:
    """The middleware on its own, around an app that fails before it answers."""

    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("the unexpected")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope: Scope = {"type": "http", "path": "/x" + forgery.decoded, "headers": []}
    with caplog.at_level(logging.INFO, logger="ostiary"):
        await CatchAllMiddleware(failing)(scope, receive, send)
    assert sent[0]["status"] == 500
    forgery.assert_not_in(caplog, expect="unexpected RuntimeError")


@pytest.mark.parametrize("control", CONTROLS)
async def test_no_control_character_reaches_a_line(
    server: Server, caplog: pytest.LogCaptureFixture, control: str
) -> None:
    with caplog.at_level(logging.INFO, logger="ostiary"):
        response = await server.client.get(f"/nothing{control}here")
    assert response.status_code == 404
    for line in server_lines(caplog):
        assert all(unicodedata.category(c) not in {"Cc", "Zl", "Zp"} for c in line), repr(line)
        assert "here" in line  # the rest of the path is still on the same line


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain /path?x=1", "plain /path?x=1"),
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("\x1b[2J", "\\x1b[2J"),
        ("nel\x85", "nel\\x85"),
        ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
        ("rlo\u202eevil", "rlo\\u202eevil"),
        ("caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"),
        ("lone \ud800", "lone \\ud800"),
    ],
)
def test_escape_controls(raw: str, escaped: str) -> None:
    assert escape_controls(raw) == escaped
