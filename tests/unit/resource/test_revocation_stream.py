"""``RevocationStream``: applies Server-Sent Events to the verifier, resumes from its cursor,
polls the feed while the stream is down, and reports its state; never fails verification."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Final

import httpx
import pytest

from ostiary.jose import JWK
from ostiary.resource import RevocationStream, TokenVerifier

ISSUER: Final = "https://auth.example.test"
STREAM: Final = f"{ISSUER}/auth/revocations/stream"
WAIT: Final = 5.0


def _verifier() -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience="orders", keys=[JWK.generate("ES256")])


def _event(seq: int, kind: str = "sid", value: str | None = None) -> str:
    entry = {"kind": kind, "value": value or f"s-{seq}", "not_before": 1.0, "expires_at": 9e9}
    return f"id: {seq}\nevent: revocation\ndata: {json.dumps({**entry, 'seq': seq})}\n\n"


async def _eventually(check: Callable[[], bool]) -> None:
    for _ in range(int(WAIT / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the wait")


class _Issuer:
    """Answers the stream and the feed; ``stream_up`` decides whether the stream answers."""

    def __init__(self) -> None:
        self.stream_up = True
        self.last_event_ids: list[str | None] = []
        self.polls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/stream"):
            self.last_event_ids.append(request.headers.get("last-event-id"))
            if not self.stream_up:
                return httpx.Response(503, json={"error": "temporarily_unavailable"})
            body = "retry: 2000\n: connected\n\n" + _event(1) + ": heartbeat\n\n" + _event(2)
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=body.encode()
            )
        self.polls += 1
        entries = [{"kind": "jti", "value": "j-7", "not_before": 1.0, "expires_at": 9e9, "seq": 7}]
        since = int(request.url.params["since"])
        page = [e for e in entries if int(str(e["seq"])) > since]
        return httpx.Response(200, json={"revocations": page, "next": max(since, 7)})


def _stream(issuer: _Issuer, verifier: TokenVerifier) -> RevocationStream:
    return RevocationStream(
        STREAM,
        verifier,
        backoff_initial=0.01,
        backoff_max=0.05,
        poll_interval=0.01,
        transport=httpx.MockTransport(issuer),
    )


async def test_events_are_applied_and_the_cursor_resumes() -> None:
    issuer, verifier = _Issuer(), _verifier()
    async with _stream(issuer, verifier) as stream:
        await _eventually(lambda: len(issuer.last_event_ids) >= 2)
        state = stream.state
    assert state.cursor == 2
    assert state.last_event_at is not None
    assert issuer.last_event_ids[:2] == ["0", "2"]  # the second connection resumes
    assert verifier.revocations.active
    assert not stream.state.connected  # stopped


async def test_while_the_stream_is_down_the_feed_is_polled_and_it_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer, verifier = _Issuer(), _verifier()
    issuer.stream_up = False
    caplog.set_level(logging.WARNING, logger="ostiary.resource.stream")
    async with _stream(issuer, verifier) as stream:
        await _eventually(lambda: stream.cursor == 7 and len(issuer.last_event_ids) >= 3)
        state: dict[str, Any] = stream.state.as_dict()
        issuer.stream_up = True
        await _eventually(lambda: stream.state.connected)
    assert state["connected"] is False
    assert "503" in state["last_error"]
    assert issuer.polls >= 1
    assert issuer.last_event_ids[-1] == "7"
    downs = [r for r in caplog.records if "revocation stream down" in r.getMessage()]
    assert len(downs) == 1  # once per change, not once per attempt


def test_the_feed_url_is_the_streams_without_stream() -> None:
    stream = RevocationStream(STREAM, _verifier())
    assert stream.feed.url == f"{ISSUER}/auth/revocations"
    with pytest.raises(ValueError, match="feed_url"):
        RevocationStream(f"{ISSUER}/events", _verifier())


def test_the_flask_extension_follows_the_stream_in_a_thread_and_stops() -> None:
    from flask import Flask

    from ostiary.resource.flask import OstiaryFlask

    issuer, verifier = _Issuer(), _verifier()
    stream = _stream(issuer, verifier)
    auth = OstiaryFlask(Flask(__name__), verifier, revocations=stream)
    try:
        for _ in range(int(WAIT / 0.01)):
            if stream.cursor == 2:
                break
            threading.Event().wait(0.01)
        assert stream.cursor == 2
        assert verifier.revocations.active
    finally:
        auth.stop_revocations()
    assert not stream.state.connected
