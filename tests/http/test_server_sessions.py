"""``/auth/sessions`` and the revocation feed ``/auth/revocations``."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.errors import Revoked
from ostiary.jose.inspect import inspect_compact
from ostiary.resource import TokenVerifier

from ._server import (
    BAD_GRANT,
    CLIENT_ADDRESS,
    NO_CREDENTIALS,
    REVOKED,
    Server,
    bearer,
    problem,
)

NO_SUCH_SESSION = problem(404, "Not Found", "No such session.")


def sid_of(tokens: dict[str, Any]) -> str:
    _, claims = inspect_compact(tokens["access_token"])
    sid: str = claims["sid"]
    return sid


async def test_sessions_lists_the_callers_live_sessions(server: Server) -> None:
    first = await server.login()
    server.clock.advance(10)
    second = await server.login()
    response = await server.client.get("/auth/sessions", headers=bearer(second["access_token"]))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    sessions = response.json()
    assert [s["id"] for s in sessions] == [sid_of(second), sid_of(first)]
    newest = sessions[0]
    assert set(newest) == {
        "id",
        "kind",
        "client_id",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "address",
        "current",
    }
    assert (newest["kind"], newest["client_id"]) == ("app", "ostiary")
    assert newest["address"] == CLIENT_ADDRESS
    assert newest["user_agent"].startswith("python-httpx/")
    assert newest["expires_at"] - newest["created_at"] == 30 * 86_400
    assert [s["current"] for s in sessions] == [True, False]


async def test_sessions_show_when_they_were_last_used(server: Server) -> None:
    tokens = await server.login()
    server.clock.advance(60)
    refreshed = (await server.refresh(tokens["refresh_token"])).json()
    (session,) = (
        await server.client.get("/auth/sessions", headers=bearer(refreshed["access_token"]))
    ).json()
    assert session["last_used_at"] - session["created_at"] == 60


async def test_other_users_sessions_are_not_listed(server: Server) -> None:
    await server.add_user("bob")
    await server.login("bob")
    alice = await server.login()
    sessions = (
        await server.client.get("/auth/sessions", headers=bearer(alice["access_token"]))
    ).json()
    assert [s["id"] for s in sessions] == [sid_of(alice)]


async def test_deleting_a_session_revokes_it_and_its_tokens(server: Server) -> None:
    mine, other = await server.login(), await server.login()
    response = await server.client.delete(
        f"/auth/sessions/{sid_of(other)}", headers=bearer(mine["access_token"])
    )
    assert response.status_code == 204
    assert (await server.profile(other["access_token"])).json() == REVOKED
    assert (await server.refresh(other["refresh_token"])).json() == BAD_GRANT
    assert (await server.profile(mine["access_token"])).status_code == 200


async def test_deleting_an_unknown_or_foreign_session_is_404(server: Server) -> None:
    await server.add_user("bob")
    bob = await server.login("bob")
    alice = await server.login()
    for session_id in ("ses_nope", sid_of(bob)):
        response = await server.client.delete(
            f"/auth/sessions/{session_id}", headers=bearer(alice["access_token"])
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == NO_SUCH_SESSION
    assert (await server.profile(bob["access_token"])).status_code == 200


async def test_deleting_a_session_twice_is_404_the_second_time(server: Server) -> None:
    mine, other = await server.login(), await server.login()
    path = f"/auth/sessions/{sid_of(other)}"
    assert (
        await server.client.delete(path, headers=bearer(mine["access_token"]))
    ).status_code == 204
    again = await server.client.delete(path, headers=bearer(mine["access_token"]))
    assert (again.status_code, again.json()) == (404, NO_SUCH_SESSION)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/auth/sessions"), ("DELETE", "/auth/sessions/ses_x")]
)
async def test_sessions_need_a_token(server: Server, method: str, path: str) -> None:
    response = await server.client.request(method, path)
    assert (response.status_code, response.json()) == (401, NO_CREDENTIALS)


# --- the revocation feed -----------------------------------------------------------------


async def test_the_feed_lists_revocations_after_a_cursor(server: Server) -> None:
    reader = await server.feed_token()
    gone = await server.login()
    await server.client.post("/auth/logout", headers=bearer(gone["access_token"]))
    response = await server.client.get("/auth/revocations", headers=bearer(reader))
    assert response.status_code == 200
    feed = response.json()
    (entry,) = feed["revocations"]
    assert (entry["kind"], entry["value"]) == ("sid", sid_of(gone))
    assert entry["expires_at"] > entry["not_before"]
    assert feed["next"] == entry["seq"]
    later = await server.client.get(
        f"/auth/revocations?since={feed['next']}", headers=bearer(reader)
    )
    assert later.json() == {"revocations": [], "next": feed["next"]}


async def test_a_resource_server_fed_from_the_feed_refuses_the_token(server: Server) -> None:
    """What a separate service does: verify with the JWKS, apply the feed."""
    reader, gone = await server.feed_token(), await server.login()
    jwks = (await server.client.get("/.well-known/jwks.json")).json()
    verifier = TokenVerifier(
        issuer=server.settings.issuer,
        audience=server.settings.audience,
        keys=jwks,
        clock=server.clock,
    )
    await verifier.verify(gone["access_token"])
    await server.client.post("/auth/logout", headers=bearer(gone["access_token"]))
    feed = (await server.client.get("/auth/revocations", headers=bearer(reader))).json()
    for entry in feed["revocations"]:
        assert entry["kind"] == "sid"
        verifier.revoke_session(entry["value"], until=entry["expires_at"])
    with pytest.raises(Revoked):
        await verifier.verify(gone["access_token"])


@pytest.mark.parametrize("query", ["since=-1", "since=abc", "limit=0", "limit=1001"])
async def test_the_feed_refuses_a_bad_cursor_with_400(server: Server, query: str) -> None:
    response = await server.client.get(
        f"/auth/revocations?{query}", headers=bearer(await server.feed_token())
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["type"], body["title"], body["status"]) == ("about:blank", "Bad Request", 400)
    assert body["detail"].startswith("Invalid request: '")


async def test_the_feed_needs_a_token(server: Server) -> None:
    response = await server.client.get("/auth/revocations")
    assert (response.status_code, response.json()) == (401, NO_CREDENTIALS)
