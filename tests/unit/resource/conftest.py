"""Fixtures of the resource-server unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._jwks_server import JWKSServer, running_jwks_server


@pytest.fixture
def jwks_server() -> Iterator[JWKSServer]:
    """A JWKS endpoint on 127.0.0.1, stopped (every thread joined) at teardown."""
    with running_jwks_server() as server:
        yield server
