"""Fixtures of the CLI tests: a runner, a signing key, and signed access tokens."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from ostiary.jose import JWK, sign_compact
from ostiary.keys import generate_key

from ._helpers import MakeToken, access_claims


@pytest.fixture
def runner() -> CliRunner:
    """A runner with a wide terminal, so that Rich does not wrap the error messages."""
    return CliRunner(env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def signing_key() -> JWK:
    return generate_key("ES256")


@pytest.fixture
def make_token(signing_key: JWK) -> MakeToken:
    """Sign ``access_claims(**overrides)`` with ``signing_key`` (``key=`` for another one)."""

    def make(*, key: JWK | None = None, typ: str = "at+jwt", **overrides: Any) -> str:
        return sign_compact(access_claims(**overrides), key or signing_key, typ=typ)

    return make
