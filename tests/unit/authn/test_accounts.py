"""``Accounts``: registration, normalized usernames, login, roles and passwords."""

from __future__ import annotations

import pytest

from ostiary.authn import Accounts, normalize_username
from ostiary.clock import FrozenClock
from ostiary.errors import (
    AccountExists,
    InvalidCredentials,
    InvalidGrant,
    InvalidRequest,
    InvalidUsername,
    NotFound,
    RegistrationDisabled,
    WeakPassword,
)
from ostiary.storage.memory import MemoryUserStore
from ostiary.storage.records import User
from tests.unit.authn.conftest import PASSWORD, T0, CountingHasher

# --- usernames -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Alice ", "alice"),
        ("\uff21\uff2c\uff29\uff23\uff25", "alice"),  # fullwidth ALICE: NFKC
        ("Straße", "strasse"),  # case folding, not lowercasing
        ("Alice@Example.ORG", "alice@example.org"),
        ("ﬁle", "file"),  # the ligature is compatibility-decomposed
        ("Ǆemal", "d\u017eemal"),  # one letter, two once decomposed
    ],
)
def test_usernames_are_nfkc_casefolded_and_trimmed(typed: str, stored: str) -> None:
    assert normalize_username(typed) == stored


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "a\x00b", "a\nb", "a\u200bb", "admin\u202e", "a\u2028b", "x" * 255],
)
def test_empty_overlong_and_invisible_usernames_are_refused(typed: str) -> None:
    with pytest.raises(InvalidUsername):
        normalize_username(typed)


def test_a_username_of_254_characters_is_accepted() -> None:
    assert len(normalize_username("x" * 254)) == 254


# --- registration ----------------------------------------------------------------------------


async def test_register_stores_an_opaque_id_a_hash_and_the_default_role(
    accounts: Accounts, users: MemoryUserStore
) -> None:
    user = await accounts.register(" Alice ", PASSWORD)
    assert user.id.startswith("usr_") and len(user.id) >= 4 + 22
    assert user.username == "alice"
    assert user.roles == {"user"}
    assert not user.disabled
    assert user.created_at == user.password_changed_at == T0
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert await users.get(user.id) == user


async def test_ids_are_not_derived_from_the_username(accounts: Accounts) -> None:
    first = await accounts.register("alice", PASSWORD)
    second = await accounts.register("bob", PASSWORD)
    assert "alice" not in first.id and first.id != second.id


async def test_a_username_taken_in_another_spelling_is_a_409(accounts: Accounts) -> None:
    await accounts.register("alice", PASSWORD)
    with pytest.raises(AccountExists) as caught:
        await accounts.register(" ALICE", "another long password")
    assert caught.value.status_code == 409


class UserStoreThatMissesTheRace(MemoryUserStore):
    """Another request creates the same user between the check and the insert."""

    async def get_by_username(self, username: str) -> User | None:
        return None


async def test_a_conflict_from_the_store_is_a_409(hasher: CountingHasher) -> None:
    accounts = Accounts(UserStoreThatMissesTheRace(), hasher)
    await accounts.register("alice", PASSWORD)
    with pytest.raises(AccountExists):
        await accounts.register("alice", PASSWORD)


async def test_a_weak_password_creates_no_user(
    accounts: Accounts, users: MemoryUserStore, hasher: CountingHasher
) -> None:
    with pytest.raises(WeakPassword):
        await accounts.register("alice", "short")
    assert await users.get_by_username("alice") is None
    assert hasher.hashed == 0


async def test_closed_registration_is_403_but_the_operator_may_still_create(
    users: MemoryUserStore, hasher: CountingHasher, clock: FrozenClock
) -> None:
    accounts = Accounts(users, hasher, clock=clock, registration_enabled=False)
    with pytest.raises(RegistrationDisabled) as caught:
        await accounts.register("alice", PASSWORD)
    assert caught.value.status_code == 403
    admin = await accounts.create("admin", PASSWORD, roles=["admin"])
    assert admin.roles == {"admin"}


@pytest.mark.parametrize("role", ["", "two words", 'quo"te', "back\\slash", "é", "r" * 65])
async def test_invalid_role_names_are_refused(accounts: Accounts, role: str) -> None:
    with pytest.raises(InvalidRequest):
        await accounts.register("alice", PASSWORD, roles=[role])


# --- login -----------------------------------------------------------------------------------


async def test_login_with_the_right_password_in_any_spelling(accounts: Accounts) -> None:
    user = await accounts.register("alice", PASSWORD)
    assert await accounts.authenticate(" ALICE ", PASSWORD) == user


async def failed_login(accounts: Accounts, username: str, password: str) -> InvalidCredentials:
    with pytest.raises(InvalidCredentials) as caught:
        await accounts.authenticate(username, password)
    return caught.value


async def test_wrong_password_unknown_user_and_disabled_user_fail_alike(
    accounts: Accounts,
) -> None:
    user = await accounts.register("alice", PASSWORD)
    await accounts.register("carol", PASSWORD)
    await accounts.disable((await accounts.get_by_username("carol")).id)
    failures = [
        await failed_login(accounts, "alice", "wrong password!!"),
        await failed_login(accounts, "mallory", PASSWORD),
        await failed_login(accounts, "carol", PASSWORD),
        await failed_login(accounts, "\x00", PASSWORD),
    ]
    public = {(type(e), e.error, e.status_code, e.description) for e in failures}
    assert public == {
        (InvalidCredentials, "invalid_grant", 401, "The username or password is incorrect.")
    }
    assert len({e.detail for e in failures}) == 4  # the log still says which
    assert all(isinstance(e, InvalidGrant) for e in failures)
    assert user.id in str(failures[0].detail)


async def test_every_failed_login_does_the_argon2_work(
    accounts: Accounts, hasher: CountingHasher
) -> None:
    await accounts.register("alice", PASSWORD)
    await failed_login(accounts, "mallory", PASSWORD)
    await failed_login(accounts, "not\x00valid", PASSWORD)
    assert (hasher.dummies, hasher.verified) == (2, 0)
    await failed_login(accounts, "alice", "wrong password!!")
    assert (hasher.dummies, hasher.verified) == (2, 1)


async def test_a_disabled_user_is_refused_after_the_same_work(
    accounts: Accounts, hasher: CountingHasher
) -> None:
    user = await accounts.register("alice", PASSWORD)
    await accounts.disable(user.id)
    await failed_login(accounts, "alice", PASSWORD)
    assert (hasher.dummies, hasher.verified) == (0, 1)


async def test_login_rehashes_when_the_parameters_changed(
    users: MemoryUserStore, clock: FrozenClock
) -> None:
    weaker, stronger = CountingHasher(memory_cost=1024), CountingHasher(memory_cost=2048)
    try:
        registered = await Accounts(users, weaker, clock=clock).register("alice", PASSWORD)
        clock.advance(60)
        user = await Accounts(users, stronger, clock=clock).authenticate("alice", PASSWORD)
        assert "m=2048" in user.password_hash
        assert await users.get(user.id) == user
        assert user.password_changed_at == registered.password_changed_at  # same password
        assert stronger.hashed == 1
        await Accounts(users, stronger, clock=clock).authenticate("alice", PASSWORD)
        assert stronger.hashed == 1  # no second rehash
    finally:
        weaker.close()
        stronger.close()


async def test_no_rehash_when_the_parameters_are_current(
    accounts: Accounts, hasher: CountingHasher
) -> None:
    registered = await accounts.register("alice", PASSWORD)
    assert (await accounts.authenticate("alice", PASSWORD)).password_hash == (
        registered.password_hash
    )
    assert hasher.hashed == 1


# --- administration --------------------------------------------------------------------------


async def test_roles_are_added_and_removed(accounts: Accounts) -> None:
    user = await accounts.register("alice", PASSWORD)
    assert (await accounts.add_role(user.id, "admin")).roles == {"user", "admin"}
    assert (await accounts.remove_role(user.id, "user")).roles == {"admin"}
    assert (await accounts.get(user.id)).roles == {"admin"}
    with pytest.raises(InvalidRequest):
        await accounts.add_role(user.id, "not a role")


async def test_disable_and_enable(accounts: Accounts) -> None:
    user = await accounts.register("alice", PASSWORD)
    assert (await accounts.disable(user.id)).disabled
    assert not (await accounts.enable(user.id)).disabled
    assert await accounts.authenticate("alice", PASSWORD)


async def test_an_unknown_user_id_is_a_404(accounts: Accounts) -> None:
    for call in (accounts.get("usr_nobody"), accounts.disable("usr_nobody")):
        with pytest.raises(NotFound) as caught:
            await call
        assert caught.value.status_code == 404
    with pytest.raises(NotFound):
        await accounts.get_by_username("nobody")


async def test_list_in_creation_order(accounts: Accounts, clock: FrozenClock) -> None:
    for name in ("carol", "alice", "bob"):
        await accounts.register(name, PASSWORD)
        clock.advance(1)
    assert [u.username for u in await accounts.list()] == ["carol", "alice", "bob"]
    assert [u.username for u in await accounts.list(offset=1, limit=1)] == ["alice"]


async def test_set_password_replaces_it_and_moves_password_changed_at(
    accounts: Accounts, clock: FrozenClock
) -> None:
    user = await accounts.register("alice", PASSWORD)
    clock.advance(3600)
    changed = await accounts.set_password(user.id, "a brand new password")
    assert changed.password_changed_at == T0 + 3600
    assert await accounts.authenticate("alice", "a brand new password")
    await failed_login(accounts, "alice", PASSWORD)
    with pytest.raises(WeakPassword):
        await accounts.set_password(user.id, "short")


async def test_change_password_needs_the_current_one(accounts: Accounts) -> None:
    user = await accounts.register("alice", PASSWORD)
    with pytest.raises(InvalidCredentials):
        await accounts.change_password(user.id, "not the password", "a brand new password")
    await accounts.change_password(user.id, PASSWORD, "a brand new password")
    assert await accounts.authenticate("alice", "a brand new password")
