"""A resource service kept in step with the issuer through ``/auth/revocations``
(:class:`ostiary.resource.RevocationFeed`): a logout or a detected reuse reaches its verifier
before the tokens expire, and cached tokens are dropped."""

from __future__ import annotations

from collections.abc import Generator

import httpx
import pytest

from ostiary.errors import Revoked, TemporarilyUnavailable
from ostiary.resource import RevocationFeed, TokenVerifier

from ._server import BASE_URL, Server, bearer


class _BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def _service_verifier(server: Server) -> TokenVerifier:
    """A verifier as another service would hold: the issuer's public keys, its own cache."""
    jwks = server.services.keys.jwks()
    return TokenVerifier(
        issuer=server.settings.issuer,
        audience=server.settings.audience,
        keys=jwks,
        clock=server.clock,
    )


def _feed(server: Server, verifier: TokenVerifier, feed_token: str) -> RevocationFeed:
    return RevocationFeed(
        f"{BASE_URL}/auth/revocations",
        verifier,
        auth=_BearerAuth(feed_token),
        transport=httpx.ASGITransport(app=server.app),
    )


async def test_a_logout_reaches_another_services_verifier(server: Server) -> None:
    feed_token = await server.feed_token()
    victim = await server.login()
    verifier = _service_verifier(server)
    claims = await verifier.verify(victim["access_token"])  # now cached
    assert len(verifier.cache) == 1
    feed = _feed(server, verifier, feed_token)
    assert await feed.poll() == 0

    r = await server.client.post("/auth/logout", headers=bearer(victim["access_token"]))
    assert r.status_code == 204
    assert await feed.poll() == 1
    assert len(verifier.cache) == 0
    with pytest.raises(Revoked):
        await verifier.verify(victim["access_token"])
    assert verifier.revocations.is_revoked(claims)
    assert await feed.poll() == 0  # the cursor moved on


async def test_refresh_token_reuse_reaches_another_services_verifier(server: Server) -> None:
    feed_token = await server.feed_token()
    pair = await server.login()
    verifier = _service_verifier(server)
    feed = _feed(server, verifier, feed_token)
    rotated = (await server.refresh(pair["refresh_token"])).json()
    server.past_refresh_grace()
    await verifier.verify(rotated["access_token"])
    reuse = await server.refresh(pair["refresh_token"])
    assert reuse.status_code == 400
    assert await feed.poll() >= 1
    with pytest.raises(Revoked):
        await verifier.verify(rotated["access_token"])


async def test_an_unreadable_feed_is_reported_and_changes_nothing(server: Server) -> None:
    verifier = _service_verifier(server)
    feed = _feed(server, verifier, "not-a-token")
    with pytest.raises(TemporarilyUnavailable):
        await feed.poll()
    assert feed.cursor == 0
    assert not verifier.revocations
