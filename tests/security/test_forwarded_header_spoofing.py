"""Attack: forged ``X-Forwarded-For`` / ``X-Forwarded-Proto`` / ``Forwarded``. A server that
believes them from anyone records the address the attacker chose (sessions, sign-in logs,
rate limits keyed on it) and takes plain HTTP for HTTPS. ``ostiary serve`` trusts them from no
one unless ``--forwarded-allow-ips`` names the proxy; the control run shows they would work."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.http._live import LiveServer, bearer, live_server, login

pytestmark = pytest.mark.slow

FORGED_ADDRESS: Final = "203.0.113.66"
FORGED: Final = {
    "X-Forwarded-For": FORGED_ADDRESS,
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "Forwarded": f"for={FORGED_ADDRESS};proto=https",
}


def forged_sign_in(server: LiveServer) -> tuple[httpx.Response, list[dict[str, Any]]]:
    """Sign in with forged headers; that answer and the sessions the server then lists."""
    with server.client(headers=FORGED) as client:
        signed_in = login(client, "alice", server.alice_password)
        assert signed_in.status_code == 200, signed_in.text
        sessions = client.get("/auth/sessions", headers=bearer(signed_in.json()["access_token"]))
    assert sessions.status_code == 200, sessions.text
    listed: list[dict[str, Any]] = sessions.json()
    return signed_in, listed


def test_forged_forwarded_headers_from_an_untrusted_peer_change_nothing(tmp_path: Path) -> None:
    with live_server(tmp_path) as server:
        signed_in, sessions = forged_sign_in(server)
    assert [s["address"] for s in sessions] == ["127.0.0.1"]  # the real peer
    assert "strict-transport-security" not in signed_in.headers  # still plain HTTP


def test_control_the_same_headers_from_a_trusted_proxy_are_believed(tmp_path: Path) -> None:
    """Without this, the test above could pass because the headers never mattered."""
    with live_server(tmp_path, options=["--forwarded-allow-ips", "127.0.0.1"]) as server:
        signed_in, sessions = forged_sign_in(server)
    assert [s["address"] for s in sessions] == [FORGED_ADDRESS]
    assert "strict-transport-security" in signed_in.headers  # the proxy said HTTPS
