"""``SessionLifecycle``: one operation ends a session (a refresh family, or a browser with the
families issued under it), one ends every session of a user or of a client, one check says a
user may still hold a session; each refuses the access tokens of what it ends."""

from __future__ import annotations

import dataclasses

import pytest

from ostiary.access_claims import AccessClaims
from ostiary.clock import FrozenClock
from ostiary.errors import InvalidGrant, InvalidScope, RefreshTokenReused
from ostiary.revocation.service import Revocations
from ostiary.storage.memory import MemoryStorage
from ostiary.storage.records import BrowserSession, LoginSession, User
from ostiary.tokens.lifecycle import SessionLifecycle
from ostiary.tokens.refresh import RefreshTokens
from tests.unit._users import ALICE
from tests.unit.tokens.conftest import T0


@pytest.fixture
async def storage() -> MemoryStorage:
    storage = MemoryStorage()
    await storage.users.create(ALICE)
    return storage


@pytest.fixture
def revocations(storage: MemoryStorage, clock: FrozenClock) -> Revocations:
    return Revocations(storage.revocations, clock=clock, max_access_ttl=900)


@pytest.fixture
def lifecycle(
    storage: MemoryStorage, revocations: Revocations, clock: FrozenClock
) -> SessionLifecycle:
    families = RefreshTokens(storage.sessions, clock=clock)
    return SessionLifecycle(
        families, revocations, storage.browser_sessions, storage.users, clock=clock
    )


def claims(*, sid: str | None = None, sub: str = ALICE.id, iat: float = T0) -> AccessClaims:
    raw: dict[str, object] = {"sub": sub, "jti": f"j-{sid}", "iat": int(iat), "exp": int(iat) + 900}
    if sid is not None:
        raw["sid"] = sid
    return AccessClaims.from_claims(raw)


async def browser(storage: MemoryStorage, session_id: str, user: User = ALICE) -> BrowserSession:
    session = BrowserSession(
        id=session_id, user_id=user.id, auth_time=T0, created_at=T0, expires_at=T0 + 3600
    )
    await storage.browser_sessions.create(session)
    return session


async def test_end_browser_session_ends_it_its_families_and_their_access_tokens(
    lifecycle: SessionLifecycle,
    storage: MemoryStorage,
    revocations: Revocations,
    clock: FrozenClock,
) -> None:
    refresh = lifecycle.families
    signed_in = await browser(storage, "bs_1")
    other = await browser(storage, "bs_2")
    under, _ = await refresh.start(
        user_id=ALICE.id, client_id="web", scope="openid", browser_session_id=signed_in.id
    )
    elsewhere, _ = await refresh.start(
        user_id=ALICE.id, client_id="web", scope="openid", browser_session_id=other.id
    )
    unrelated, _ = await refresh.start(user_id=ALICE.id, client_id="ostiary", scope="")

    clock.advance(5)
    assert await lifecycle.end_browser_session(signed_in.id) is True
    ended = await storage.sessions.get(under.id)
    assert ended is not None and ended.revoked_at == T0 + 5
    for kept in (elsewhere, unrelated):
        found = await storage.sessions.get(kept.id)
        assert found is not None and found.revoked_at is None
    assert revocations.local.is_revoked(claims(sid=under.id))
    assert not revocations.local.is_revoked(claims(sid=elsewhere.id))
    assert not revocations.local.is_revoked(claims(sid=unrelated.id))
    assert await lifecycle.browser_sessions(ALICE.id) == [other]

    assert await lifecycle.end_browser_session(signed_in.id) is False  # ended already
    assert await lifecycle.end_browser_session("bs_unknown") is False


async def test_ending_a_session_for_a_user_touches_only_that_users_own(
    lifecycle: SessionLifecycle, storage: MemoryStorage, revocations: Revocations
) -> None:
    bob = dataclasses.replace(ALICE, id="usr_bob", username="bob")
    await storage.users.create(bob)
    alices, _ = await lifecycle.families.start(user_id=ALICE.id, client_id="ostiary", scope="")
    bobs_browser = await browser(storage, "bs_bob", bob)

    assert await lifecycle.end_session(alices.id, user_id=bob.id) is None
    assert not revocations.local.is_revoked(claims(sid=alices.id))
    assert await lifecycle.end_browser_session(bobs_browser.id, user_id=ALICE.id) is False
    assert await lifecycle.browser_sessions(bob.id) == [bobs_browser]

    ended = await lifecycle.end_session(alices.id, user_id=ALICE.id)
    assert ended is not None and ended.id == alices.id
    assert revocations.local.is_revoked(claims(sid=alices.id))


async def test_end_user_sessions_ends_families_browsers_and_every_token_issued_so_far(
    lifecycle: SessionLifecycle,
    storage: MemoryStorage,
    revocations: Revocations,
    clock: FrozenClock,
) -> None:
    first, _ = await lifecycle.families.start(user_id=ALICE.id, client_id="ostiary", scope="")
    second, _ = await lifecycle.families.start(user_id=ALICE.id, client_id="web", scope="openid")
    await browser(storage, "bs_1")
    clock.advance(1)

    ended = await lifecycle.end_user_sessions(ALICE.id)

    assert {f.id for f in ended.families} == {first.id, second.id}
    assert [b.id for b in ended.browsers] == ["bs_1"] and len(ended) == 3
    assert await lifecycle.browser_sessions(ALICE.id) == []
    assert await lifecycle.families.list_sessions(ALICE.id) == []
    assert revocations.local.is_revoked(claims(iat=T0))  # even one with no session
    assert not revocations.local.is_revoked(claims(iat=T0 + 2))  # issued later


async def test_end_user_sessions_keeps_the_asking_session_and_its_tokens(
    lifecycle: SessionLifecycle, storage: MemoryStorage, revocations: Revocations
) -> None:
    asking, _ = await lifecycle.families.start(user_id=ALICE.id, client_id="ostiary", scope="")
    other, _ = await lifecycle.families.start(user_id=ALICE.id, client_id="ostiary", scope="")
    await browser(storage, "bs_1")

    ended = await lifecycle.end_user_sessions(ALICE.id, keep=asking.id)

    assert [f.id for f in ended.families] == [other.id] and len(ended.browsers) == 1
    assert [s.id for s in await lifecycle.families.list_sessions(ALICE.id)] == [asking.id]
    assert revocations.local.is_revoked(claims(sid=other.id))
    assert not revocations.local.is_revoked(claims(sid=asking.id))


async def test_end_client_sessions_ends_only_that_clients_families(
    lifecycle: SessionLifecycle, revocations: Revocations
) -> None:
    web, _ = await lifecycle.families.start(user_id=ALICE.id, client_id="web", scope="openid")
    own, _ = await lifecycle.families.start(user_id=ALICE.id, client_id="ostiary", scope="")

    ended = await lifecycle.end_client_sessions("web")

    assert [f.id for f in ended] == [web.id]
    assert revocations.local.is_revoked(claims(sid=web.id))
    assert not revocations.local.is_revoked(claims(sid=own.id))


async def test_live_user_is_none_for_a_disabled_user_or_a_password_changed_since(
    lifecycle: SessionLifecycle, storage: MemoryStorage
) -> None:
    assert await lifecycle.live_user(ALICE.id) == ALICE
    assert await lifecycle.live_user(ALICE.id, since=T0) == ALICE
    assert await lifecycle.live_user(ALICE.id, since=T0 - 1) is None
    assert await lifecycle.live_user("usr_nobody") is None
    await storage.users.update(dataclasses.replace(ALICE, disabled=True))
    assert await lifecycle.live_user(ALICE.id) is None


async def test_a_new_session_dies_if_the_password_changed_while_it_was_opened(
    lifecycle: SessionLifecycle, storage: MemoryStorage, revocations: Revocations
) -> None:
    """The race of a login against a password change: the login read the old record, the
    change swept the sessions, then the login's session was stored."""
    family, _ = await lifecycle.families.start(user_id=ALICE.id, client_id="ostiary", scope="")
    signed_in = await browser(storage, "bs_1")
    changed = dataclasses.replace(ALICE, password_hash="new", password_changed_at=T0 + 1)
    await storage.users.update(changed)

    with pytest.raises(InvalidGrant):
        await lifecycle.keep_new_session(family, ALICE)
    with pytest.raises(InvalidGrant):
        await lifecycle.keep_new_session(signed_in, ALICE)

    assert await lifecycle.families.list_sessions(ALICE.id) == []
    assert await lifecycle.browser_sessions(ALICE.id) == []
    assert revocations.local.is_revoked(claims(sid=family.id))
    assert await lifecycle.keep_new_session(family, changed) == changed


async def test_rotate_refuses_another_clients_token_without_touching_it(
    lifecycle: SessionLifecycle,
) -> None:
    started = await lifecycle.families.start(user_id=ALICE.id, client_id="web", scope="openid")
    with pytest.raises(InvalidGrant, match="grant"):
        await lifecycle.rotate(started.token, client_id="ostiary")
    refreshed = await lifecycle.rotate(started.token, client_id="web")
    assert refreshed.user == ALICE and refreshed.session.id == started.session.id


async def test_rotate_of_a_reused_token_ends_the_family_and_its_tokens(
    lifecycle: SessionLifecycle, revocations: Revocations
) -> None:
    started = await lifecycle.families.start(user_id=ALICE.id, client_id="web", scope="openid")
    await lifecycle.rotate(started.token, client_id="web")
    with pytest.raises(RefreshTokenReused):
        await lifecycle.rotate(started.token, client_id="web")
    assert revocations.local.is_revoked(claims(sid=started.session.id))


async def test_rotate_ends_the_family_of_a_user_disabled_since(
    lifecycle: SessionLifecycle, storage: MemoryStorage, revocations: Revocations
) -> None:
    started = await lifecycle.families.start(user_id=ALICE.id, client_id="web", scope="openid")
    await storage.users.update(dataclasses.replace(ALICE, disabled=True))
    with pytest.raises(InvalidGrant):
        await lifecycle.rotate(started.token, client_id="web")
    assert await lifecycle.families.list_sessions(ALICE.id) == []
    assert revocations.local.is_revoked(claims(sid=started.session.id))


async def test_rotate_refused_by_its_check_leaves_the_token_usable(
    lifecycle: SessionLifecycle, revocations: Revocations
) -> None:
    """The check (a narrowed scope, a DPoP key) runs in the rotation's transaction: refused,
    nothing changed, and a used token is not taken for reuse."""
    started = await lifecycle.families.start(user_id=ALICE.id, client_id="web", scope="openid")

    def refuse(family: LoginSession) -> None:
        assert family.id == started.session.id
        raise InvalidScope(detail="refused by the test")

    with pytest.raises(InvalidScope):
        await lifecycle.rotate(started.token, client_id="web", check=refuse)
    rotated = await lifecycle.rotate(started.token, client_id="web", check=lambda _: None)
    with pytest.raises(InvalidScope):
        await lifecycle.rotate(started.token, client_id="web", check=refuse)
    assert not revocations.local.is_revoked(claims(sid=started.session.id))
    await lifecycle.rotate(rotated.issued.token, client_id="web")


async def test_rotate_answers_a_retry_within_the_grace_window_with_the_same_successor(
    storage: MemoryStorage, revocations: Revocations, clock: FrozenClock
) -> None:
    families = RefreshTokens(storage.sessions, clock=clock, grace_seconds=10, secret=b"k" * 32)
    lifecycle = SessionLifecycle(
        families, revocations, storage.browser_sessions, storage.users, clock=clock
    )
    started = await families.start(user_id=ALICE.id, client_id="web", scope="openid")
    first = await lifecycle.rotate(started.token, client_id="web")
    clock.advance(5)

    retried = await lifecycle.rotate(started.token, client_id="web")

    assert retried.issued.token == first.issued.token and retried.user == ALICE
    await lifecycle.rotate(first.issued.token, client_id="web")  # the chain moves on
    with pytest.raises(RefreshTokenReused):  # and the old token is reuse now
        await lifecycle.rotate(started.token, client_id="web")
    assert revocations.local.is_revoked(claims(sid=started.session.id))
