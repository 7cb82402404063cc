"""Back-Channel Logout delivery (OpenID Connect Back-Channel Logout 1.0 §2.5, §2.8) against a
relying party under a real uvicorn: who is told, what is sent, that the session ends without
waiting for it, bounded retries, and failures logged without the token."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ostiary.clock import FrozenClock
from ostiary.jose import JWK, JWKSet, JWTVerifier
from ostiary.revocation.service import Revocations
from ostiary.storage.memory import MemoryStorage
from ostiary.storage.records import BrowserSession, Client, ClientAuthMethod
from ostiary.tokens.backchannel import BackChannelLogout, DeliveryPolicy
from ostiary.tokens.lifecycle import SessionLifecycle
from ostiary.tokens.logout_token import BACKCHANNEL_LOGOUT_EVENT, LogoutTokenIssuer
from ostiary.tokens.logout_token import logout_token_rules as rules
from ostiary.tokens.refresh import RefreshTokens
from tests._relying_party import Received, RelyingParty, running_relying_party
from tests._uvicorn import base_url, loopback_socket
from tests.unit._users import ALICE
from tests.unit.tokens.conftest import T0

ISSUER = "https://auth.example.test"
KEY = JWK.generate("ES256")
FAST = DeliveryPolicy(attempts=3, first_delay=0.01, timeout=5.0)
LOGGER = "ostiary.tokens.backchannel"


def client(client_id: str, uri: str | None, *, session_required: bool = True) -> Client:
    return Client(
        id=client_id,
        name=client_id,
        auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
        secret_hash="0" * 64,
        jwks=None,
        redirect_uris=("https://rp.example/cb",),
        post_logout_redirect_uris=(),
        grant_types=frozenset({"authorization_code", "refresh_token"}),
        scopes=frozenset({"openid"}),
        audiences=frozenset(),
        first_party=False,
        created_at=T0,
        updated_at=T0,
        backchannel_logout_uri=uri,
        backchannel_logout_session_required=session_required,
    )


class World:
    """A lifecycle over memory storage whose one listener is the notifier under test."""

    def __init__(self, clock: FrozenClock, policy: DeliveryPolicy = FAST) -> None:
        self.storage = MemoryStorage()
        self.clients: dict[str, Client] = {}
        tokens = LogoutTokenIssuer(lambda: KEY, issuer=ISSUER, clock=clock)
        self.notifier = BackChannelLogout(self._client, tokens, policy=policy)
        self.lifecycle = SessionLifecycle(
            RefreshTokens(self.storage.sessions, clock=clock),
            Revocations(self.storage.revocations, clock=clock, max_access_ttl=900),
            self.storage.browser_sessions,
            self.storage.users,
            clock=clock,
            listeners=[self.notifier],
        )

    async def _client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def register(self, *clients: Client) -> None:
        self.clients.update((c.id, c) for c in clients)

    async def browser(self, session_id: str) -> str:
        await self.storage.browser_sessions.create(
            BrowserSession(session_id, ALICE.id, auth_time=T0, created_at=T0, expires_at=T0 + 3600)
        )
        return session_id

    async def family(self, client_id: str, browser_session_id: str | None) -> str:
        started = await self.lifecycle.families.start(
            user_id=ALICE.id,
            client_id=client_id,
            scope="openid",
            browser_session_id=browser_session_id,
        )
        return started.session.id


@pytest.fixture
def rp() -> Iterator[tuple[RelyingParty, str]]:
    with running_relying_party() as running:
        yield running


@pytest.fixture
async def world(clock: FrozenClock) -> AsyncIterator[World]:
    built = World(clock)
    yield built
    await built.notifier.aclose()


def verified(received: Received, client_id: str, clock: FrozenClock) -> dict[str, Any]:
    claims = JWTVerifier(rules(ISSUER, client_id, leeway=0)).verify(
        received.logout_token, JWKSet([KEY.public()]), now=clock.now()
    )
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert "nonce" not in claims
    return claims


async def test_ending_a_browser_session_tells_each_of_its_clients_once_without_waiting(
    world: World, rp: tuple[RelyingParty, str], clock: FrozenClock
) -> None:
    party, url = rp
    world.register(
        client("web", f"{url}/web/logout"),
        client("spa", f"{url}/spa/logout?tenant=1"),
        client("plain", None),  # registered no back-channel URI: not told
    )
    signed_in, other = await world.browser("bs_1"), await world.browser("bs_2")
    for client_id in ("web", "web", "spa", "plain"):
        await world.family(client_id, signed_in)
    await world.family("web", other)  # another browser's: stays
    party.open.clear()  # the relying party holds every request...
    assert await world.lifecycle.end_browser_session(signed_in)
    assert party.received == []  # ...and the logout did not wait for it
    party.open.set()
    await world.notifier.drain()
    by_path = {r.path: r for r in party.received}
    assert sorted(by_path) == ["/spa/logout", "/web/logout"]
    for path, client_id in [("/web/logout", "web"), ("/spa/logout", "spa")]:
        received = by_path[path]
        assert received.method == "POST"
        assert received.content_type == "application/x-www-form-urlencoded"
        assert list(received.form) == ["logout_token"]
        claims = verified(received, client_id, clock)
        assert (claims["sid"], claims["sub"], claims["aud"]) == ("bs_1", ALICE.id, client_id)


async def test_ending_every_session_of_a_user_tells_each_browser_session_apart(
    world: World, rp: tuple[RelyingParty, str], clock: FrozenClock
) -> None:
    party, url = rp
    world.register(client("web", f"{url}/logout"))
    for browser in ("bs_1", "bs_2"):
        await world.family("web", await world.browser(browser))
    await world.lifecycle.end_user_sessions(ALICE.id)
    await world.notifier.drain()
    assert sorted(verified(r, "web", clock)["sid"] for r in party.received) == ["bs_1", "bs_2"]


async def test_ending_one_family_tells_its_client_with_the_browser_session_it_came_from(
    world: World, rp: tuple[RelyingParty, str], clock: FrozenClock
) -> None:
    party, url = rp
    world.register(client("web", f"{url}/logout"), client("spa", f"{url}/spa"))
    browser = await world.browser("bs_1")
    family = await world.family("web", browser)
    await world.family("spa", browser)
    assert await world.lifecycle.end_session(family) is not None
    assert await world.lifecycle.end_session(family) is None  # already ended: told once
    await world.notifier.drain()
    (received,) = party.received
    assert received.path == "/logout"
    assert verified(received, "web", clock)["sid"] == "bs_1"


async def test_without_a_browser_session_only_clients_that_need_no_sid_are_told(
    world: World, rp: tuple[RelyingParty, str], clock: FrozenClock
) -> None:
    """§2.2: ``backchannel_logout_session_required`` says the client needs ``sid``; a family
    opened outside a browser session has none, so such a client cannot be told."""
    party, url = rp
    world.register(
        client("needs-sid", f"{url}/needs"),
        client("any", f"{url}/any", session_required=False),
    )
    await world.family("needs-sid", None)
    await world.family("any", None)
    await world.lifecycle.end_user_sessions(ALICE.id)
    await world.notifier.drain()
    (received,) = party.received
    claims = verified(received, "any", clock)
    assert claims["sub"] == ALICE.id
    assert "sid" not in claims


async def test_a_failing_relying_party_is_tried_again_with_a_fresh_token(
    world: World, rp: tuple[RelyingParty, str], clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    party, url = rp
    party.statuses.extend([503, 500])  # then 200
    world.register(client("web", f"{url}/logout"))
    await world.family("web", await world.browser("bs_1"))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await world.lifecycle.end_browser_session("bs_1")
        await world.notifier.drain()
    assert len(party.received) == 3
    assert len({verified(r, "web", clock)["jti"] for r in party.received}) == 3
    assert not caplog.records


@pytest.mark.parametrize(
    ("statuses", "attempts", "reason"),
    [
        ([503, 503, 503], 3, "HTTP 503"),  # gives up after the last attempt
        ([400], 1, "HTTP 400"),  # §2.8: the relying party refused it; trying again won't help
        ([302], 1, "HTTP 302"),  # redirects are not followed
    ],
)
async def test_a_delivery_that_fails_is_logged_without_the_token(
    world: World,
    rp: tuple[RelyingParty, str],
    caplog: pytest.LogCaptureFixture,
    statuses: list[int],
    attempts: int,
    reason: str,
) -> None:
    party, url = rp
    party.statuses.extend(statuses)
    world.register(client("web", f"{url}/logout"))
    await world.family("web", await world.browser("bs_1"))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await world.lifecycle.end_browser_session("bs_1")
        await world.notifier.drain()
    assert len(party.received) == attempts
    (record,) = caplog.records
    message = record.getMessage()
    assert "client web" in message and reason in message and f"{attempts} attempt" in message
    assert all(r.logout_token not in caplog.text for r in party.received)
    assert "eyJ" not in caplog.text


async def test_an_unreachable_relying_party_is_tried_a_few_times_then_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    sock = loopback_socket()
    closed = base_url(sock)  # nobody listens there once it is closed
    sock.close()
    world.register(client("web", f"{closed}/logout"))
    await world.family("web", await world.browser("bs_1"))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await world.lifecycle.end_browser_session("bs_1")
        await world.notifier.drain()
    (record,) = caplog.records
    assert "ConnectError" in record.getMessage() and "3 attempt" in record.getMessage()


async def test_requests_in_flight_are_capped(
    clock: FrozenClock, rp: tuple[RelyingParty, str]
) -> None:
    party, url = rp
    party.delay = 0.02
    world = World(clock, DeliveryPolicy(concurrency=1, first_delay=0.01))
    try:
        world.register(*(client(f"app-{i}", f"{url}/{i}") for i in range(4)))
        browser = await world.browser("bs_1")
        for i in range(4):
            await world.family(f"app-{i}", browser)
        await world.lifecycle.end_browser_session(browser)
        await world.notifier.drain()
    finally:
        await world.notifier.aclose()
    assert len(party.received) == 4
    assert party.most_in_flight == 1


async def test_beyond_max_pending_a_notice_is_dropped_and_logged(
    clock: FrozenClock, rp: tuple[RelyingParty, str], caplog: pytest.LogCaptureFixture
) -> None:
    party, url = rp
    world = World(clock, DeliveryPolicy(max_pending=1, first_delay=0.01))
    try:
        world.register(client("web", f"{url}/logout"))
        for browser in ("bs_1", "bs_2"):
            await world.family("web", await world.browser(browser))
        party.open.clear()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            await world.lifecycle.end_browser_session("bs_1")
            await world.lifecycle.end_browser_session("bs_2")  # while bs_1's still waits
        party.open.set()
        await world.notifier.drain()
    finally:
        await world.notifier.aclose()
    assert [verified(r, "web", clock)["sid"] for r in party.received] == ["bs_1"]
    (record,) = caplog.records
    assert "bs_2" in record.getMessage() and "web" in record.getMessage()


async def test_close_gives_up_on_deliveries_that_outlast_the_grace(
    clock: FrozenClock, rp: tuple[RelyingParty, str]
) -> None:
    party, url = rp
    world = World(clock, DeliveryPolicy(shutdown_grace=0.01))
    world.register(client("web", f"{url}/logout"))
    await world.family("web", await world.browser("bs_1"))
    party.open.clear()
    await world.lifecycle.end_browser_session("bs_1")
    await world.notifier.aclose()  # returns although the relying party still holds it
    await world.notifier.drain()  # nothing left
    party.open.set()


def test_the_policy_refuses_nonsense() -> None:
    for bad in (
        {"attempts": 0},
        {"concurrency": 0},
        {"max_pending": 0},
        {"first_delay": -1.0},
        {"timeout": 0.0},
    ):
        with pytest.raises(ValueError, match=r"least 1|negative"):
            DeliveryPolicy(**bad)
