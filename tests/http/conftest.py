"""Fixtures of the auth-server tests (``test_server_*``): a running server on memory storage."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.clock import FrozenClock
from ostiary.resource import TokenVerifier
from tests.unit.resource._tokens import AUDIENCE, ISSUER, T0, jwks_of

from ._bearer import KEY
from ._server import Server, running, settings_for


@pytest.fixture(autouse=True)
def _no_ostiary_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test, never from the developer's shell."""
    for name in list(os.environ):
        if name.upper().startswith("OSTIARY_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """A dev-mode server with one user, ``alice`` (role ``user``)."""
    async with running(settings_for(tmp_path)) as srv:
        await srv.add_user("alice")
        yield srv


@pytest.fixture
def clock() -> FrozenClock:
    """The bearer tests' clock, standing at the time their tokens are minted."""
    return FrozenClock(T0)


@pytest.fixture
def verifier(clock: FrozenClock) -> TokenVerifier:
    """A verifier of the bearer tests' key, on their clock."""
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=jwks_of(KEY), clock=clock)
