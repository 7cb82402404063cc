"""Fast argon2 parameters for tests; one test checks the real defaults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ostiary.authn import Accounts, PasswordHasher
from ostiary.clock import FrozenClock
from ostiary.storage.memory import MemoryUserStore

T0 = 1_700_000_000.0
PASSWORD = "correct horse battery"


class CountingHasher(PasswordHasher):
    """Counts real and dummy verifications, to check that every failed login does the work."""

    def __init__(self, *, memory_cost: int = 1024) -> None:
        super().__init__(memory_cost=memory_cost, time_cost=1)
        self.verified = 0
        self.dummies = 0
        self.hashed = 0

    async def hash(self, password: str) -> str:
        self.hashed += 1
        return await super().hash(password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        self.verified += 1
        return await super().verify(stored_hash, password)

    async def verify_dummy(self, password: str) -> None:
        self.dummies += 1
        await super().verify_dummy(password)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def hasher() -> Iterator[CountingHasher]:
    hasher = CountingHasher()
    yield hasher
    hasher.close()


@pytest.fixture
def users() -> MemoryUserStore:
    return MemoryUserStore()


@pytest.fixture
def accounts(users: MemoryUserStore, hasher: CountingHasher, clock: FrozenClock) -> Accounts:
    return Accounts(users, hasher, clock=clock)
