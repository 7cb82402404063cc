"""``RefreshTokens``: families, rotation, reuse detection (RFC 9700 §4.14.2), expiry."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import ConfigurationError, InvalidGrant, RefreshTokenReused
from ostiary.storage.memory import MemorySessionStore
from ostiary.storage.records import Rotation
from ostiary.tokens import IssuedRefresh, RefreshTokens, hash_refresh_token
from tests.unit.tokens.conftest import T0

DAY = 86_400.0
SECRET = b"s" * 16 + b"e" * 16


class InterleavingSessionStore(MemorySessionStore):
    """Reads the token, yields to the event loop, and only then rotates, answering with what it
    read first, as PostgreSQL's snapshot does: concurrent refreshes all read the token as
    unused, and only the compare-and-set decides which one rotates."""

    async def rotate(
        self,
        old_hash: str,
        successor_hash: str,
        *,
        now: float,
        active_since: float,
        client_id: str | None = None,
    ) -> Rotation | None:
        read = await self.find_token(old_hash)
        await asyncio.sleep(0)
        found = await super().rotate(
            old_hash, successor_hash, now=now, active_since=active_since, client_id=client_id
        )
        if read is None or found is None:
            return found
        return Rotation(*read, rotated=found.rotated)


@pytest.fixture
def store() -> MemorySessionStore:
    return MemorySessionStore()


@pytest.fixture
def refresh(store: MemorySessionStore, clock: FrozenClock) -> RefreshTokens:
    return RefreshTokens(store, clock=clock)


def with_grace(store: MemorySessionStore, clock: FrozenClock, seconds: float = 10) -> RefreshTokens:
    return RefreshTokens(store, clock=clock, grace_seconds=seconds, secret=SECRET)


async def login(refresh: RefreshTokens) -> IssuedRefresh:
    return await refresh.start(
        user_id="usr_1", client_id="ostiary", scope="profile", user_agent="curl/8", address="::1"
    )


async def test_start_opens_a_family_and_stores_only_the_hash(
    refresh: RefreshTokens, store: MemorySessionStore
) -> None:
    session, token = await login(refresh)
    assert len(token) == 43  # 256 random bits
    assert session.id.startswith("ses_")
    assert (session.created_at, session.last_used_at, session.expires_at) == (T0, T0, T0 + 30 * DAY)
    assert (session.user_agent, session.address, session.scope) == ("curl/8", "::1", "profile")
    found = await store.find_token(hashlib.sha256(token.encode()).hexdigest())
    assert found is not None and found[1] == session
    assert await store.find_token(token) is None


async def test_a_long_user_agent_is_cut(refresh: RefreshTokens) -> None:
    session, _ = await refresh.start(
        user_id="u", client_id="c", scope="", user_agent="x" * 5000, address=None
    )
    assert session.user_agent is not None and len(session.user_agent) == 512


async def test_rotate_gives_a_new_token_and_touches_the_family(
    refresh: RefreshTokens, clock: FrozenClock
) -> None:
    first = await login(refresh)
    clock.advance(60)
    second = await refresh.rotate(first.token)
    assert second.token != first.token and len(second.token) == 43
    assert second.session.id == first.session.id
    assert second.session.last_used_at == T0 + 60
    third = await refresh.rotate(second.token)
    assert third.session.id == first.session.id


async def test_reuse_revokes_the_whole_family(
    refresh: RefreshTokens, store: MemorySessionStore, clock: FrozenClock
) -> None:
    first = await login(refresh)
    second = await refresh.rotate(first.token)
    clock.advance(5)
    with pytest.raises(RefreshTokenReused) as caught:
        await refresh.rotate(first.token)
    reused = caught.value
    assert (reused.session_id, reused.user_id) == (first.session.id, "usr_1")
    assert (reused.error, reused.status_code) == ("invalid_grant", 400)
    assert reused.description == InvalidGrant.description
    revoked = await store.get(first.session.id)
    assert revoked is not None and revoked.revoked_at == T0 + 5
    with pytest.raises(InvalidGrant) as after:  # the thief's or the user's successor: both dead
        await refresh.rotate(second.token)
    assert not isinstance(after.value, RefreshTokenReused)


@pytest.mark.parametrize("token", ["", "unknown-token", "x" * 257])
async def test_an_unknown_token_is_invalid_grant(refresh: RefreshTokens, token: str) -> None:
    await login(refresh)
    with pytest.raises(InvalidGrant) as caught:
        await refresh.rotate(token)
    assert not isinstance(caught.value, RefreshTokenReused)


async def test_a_family_idle_too_long_ends(refresh: RefreshTokens, clock: FrozenClock) -> None:
    first = await login(refresh)
    clock.advance(7 * DAY)
    second = await refresh.rotate(first.token)  # exactly the idle limit: still alive
    clock.advance(7 * DAY + 1)
    with pytest.raises(InvalidGrant):
        await refresh.rotate(second.token)


async def test_a_family_used_often_still_ends_at_its_absolute_lifetime(
    refresh: RefreshTokens, clock: FrozenClock
) -> None:
    issued = await login(refresh)
    for _ in range(4):
        clock.advance(6 * DAY)
        issued = await refresh.rotate(issued.token)
    assert refresh.expires_in(issued.session) == 6 * DAY
    clock.advance(6 * DAY)
    assert refresh.expires_in(issued.session) == 0
    with pytest.raises(InvalidGrant):
        await refresh.rotate(issued.token)


async def test_expires_in_is_the_sooner_of_idle_and_absolute(
    refresh: RefreshTokens, clock: FrozenClock
) -> None:
    issued = await login(refresh)
    assert refresh.expires_in(issued.session) == 7 * DAY
    clock.advance(25 * DAY)
    assert refresh.expires_in(issued.session) == 0  # idle long ago
    touched = dataclasses.replace(issued.session, last_used_at=T0 + 25 * DAY)
    assert refresh.expires_in(touched) == 5 * DAY


async def test_a_revoked_family_refuses_its_token(refresh: RefreshTokens) -> None:
    issued = await login(refresh)
    assert await refresh.revoke_session(issued.session.id) is not None
    with pytest.raises(InvalidGrant):
        await refresh.rotate(issued.token)


# --- the grace window ------------------------------------------------------------------------


async def test_a_retry_within_the_grace_window_gets_the_same_successor(
    store: MemorySessionStore, clock: FrozenClock
) -> None:
    refresh = with_grace(store, clock)
    first = await login(refresh)
    second = await refresh.rotate(first.token)
    clock.advance(9)
    again = await refresh.rotate(first.token)
    assert again.token == second.token
    assert (await refresh.rotate(second.token)).session.revoked_at is None


async def test_after_the_grace_window_a_retry_is_reuse(
    store: MemorySessionStore, clock: FrozenClock
) -> None:
    refresh = with_grace(store, clock)
    first = await login(refresh)
    await refresh.rotate(first.token)
    clock.advance(10)
    with pytest.raises(RefreshTokenReused):
        await refresh.rotate(first.token)


async def test_within_the_grace_window_a_token_whose_successor_moved_on_is_reuse(
    store: MemorySessionStore, clock: FrozenClock
) -> None:
    refresh = with_grace(store, clock)
    first = await login(refresh)
    second = await refresh.rotate(first.token)
    await refresh.rotate(second.token)
    with pytest.raises(RefreshTokenReused):
        await refresh.rotate(first.token)


async def test_successors_are_derived_only_with_a_grace_window(
    store: MemorySessionStore, clock: FrozenClock
) -> None:
    def derived(token: str) -> str:
        digest = hmac.new(SECRET, token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    graced = with_grace(store, clock)
    first = await login(graced)
    assert (await graced.rotate(first.token)).token == derived(first.token)
    plain = RefreshTokens(store, clock=clock, secret=SECRET)
    first = await login(plain)
    assert (await plain.rotate(first.token)).token != derived(first.token)


@pytest.mark.parametrize("secret", [None, b"too short"])
def test_a_grace_window_needs_a_strong_secret(
    store: MemorySessionStore, secret: bytes | None
) -> None:
    with pytest.raises(ConfigurationError):
        RefreshTokens(store, grace_seconds=5, secret=secret)


# --- concurrency -----------------------------------------------------------------------------


async def test_of_20_concurrent_refreshes_exactly_one_succeeds(clock: FrozenClock) -> None:
    store = InterleavingSessionStore()
    refresh = RefreshTokens(store, clock=clock)
    first = await login(refresh)
    results = await asyncio.gather(
        *(refresh.rotate(first.token) for _ in range(20)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, IssuedRefresh)]
    losers = [r for r in results if isinstance(r, InvalidGrant)]
    assert (len(winners), len(losers)) == (1, 19)
    assert any(isinstance(r, RefreshTokenReused) for r in losers)
    # The losers presented a used token: reuse, so even the winner's successor is dead.
    with pytest.raises(InvalidGrant):
        await refresh.rotate(winners[0].token)


async def test_with_a_grace_window_20_concurrent_refreshes_share_one_successor(
    clock: FrozenClock,
) -> None:
    store = InterleavingSessionStore()
    refresh = with_grace(store, clock)
    first = await login(refresh)
    results = await asyncio.gather(*(refresh.rotate(first.token) for _ in range(20)))
    assert len({r.token for r in results}) == 1
    assert await refresh.rotate(results[0].token)


# --- sessions --------------------------------------------------------------------------------


async def test_list_sessions_shows_only_live_ones_newest_first(
    refresh: RefreshTokens, clock: FrozenClock
) -> None:
    idle = await login(refresh)
    clock.advance(7 * DAY + 1)
    revoked = await login(refresh)
    clock.advance(1)
    live = await login(refresh)
    await refresh.revoke_session(revoked.session.id)
    assert [s.id for s in await refresh.list_sessions("usr_1")] == [live.session.id]
    assert idle.session.id != live.session.id


async def test_a_user_revokes_only_their_own_session(refresh: RefreshTokens) -> None:
    issued = await login(refresh)
    assert await refresh.revoke_session(issued.session.id, user_id="usr_other") is None
    assert await refresh.revoke_session("ses_unknown", user_id="usr_1") is None
    revoked = await refresh.revoke_session(issued.session.id, user_id="usr_1")
    assert revoked is not None and revoked.revoked_at == T0
    assert await refresh.revoke_session(issued.session.id) is None  # already revoked


async def test_revoke_user_ends_every_family_or_all_but_one(refresh: RefreshTokens) -> None:
    a, b, c = [await login(refresh) for _ in range(3)]
    other = await refresh.start(user_id="usr_2", client_id="c", scope="")
    revoked = await refresh.revoke_user("usr_1", keep=b.session.id)
    assert {s.id for s in revoked} == {a.session.id, c.session.id}
    assert [s.id for s in await refresh.list_sessions("usr_1")] == [b.session.id]
    assert [s.id for s in await refresh.revoke_user("usr_1")] == [b.session.id]
    assert await refresh.list_sessions("usr_2") == [other.session]


def test_hash_refresh_token_is_sha256_hex() -> None:
    assert hash_refresh_token("abc") == hashlib.sha256(b"abc").hexdigest()


async def test_a_token_of_another_clients_family_is_refused_and_left_usable(
    refresh: RefreshTokens,
) -> None:
    first = await refresh.start(user_id="usr_alice", client_id="web", scope="openid")
    with pytest.raises(InvalidGrant) as refused:
        await refresh.rotate(first.token, client_id="ostiary")
    assert not isinstance(refused.value, RefreshTokenReused)
    assert (await refresh.rotate(first.token, client_id="web")).session.id == first.session.id
