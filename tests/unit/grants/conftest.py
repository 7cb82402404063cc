"""A frozen clock and one wired OAuth server per test; a fast hasher, never used to hash."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ostiary.authn.passwords import PasswordHasher
from ostiary.clock import FrozenClock
from tests.unit.grants._server import T0, OAuthServer


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    hasher = PasswordHasher(memory_cost=1024, time_cost=1, workers=1)
    yield hasher
    hasher.close()


@pytest.fixture
async def server(clock: FrozenClock, hasher: PasswordHasher) -> OAuthServer:
    return await OAuthServer.build(clock, hasher)
