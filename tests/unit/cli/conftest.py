"""Fixtures of the CLI tests: a runner, a server environment, a signing key, and signed access
tokens."""

from __future__ import annotations

import os
from pathlib import Path
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


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A dev-mode environment on a temporary SQLite file, with fast argon2, and no other
    ``OSTIARY_*`` variable from the developer's shell."""
    for name in list(os.environ):
        if name.upper().startswith("OSTIARY_"):
            monkeypatch.delenv(name)
    values = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'ostiary.db'}",
        "OSTIARY_DEV": "true",
        "OSTIARY_DEV_KEY_DIR": str(tmp_path / ".ostiary"),
        "OSTIARY_ARGON2_MEMORY_KIB": "256",
        "OSTIARY_ARGON2_TIME_COST": "1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture(scope="module")
def signing_key() -> JWK:
    return generate_key("ES256")


@pytest.fixture
def make_token(signing_key: JWK) -> MakeToken:
    """Sign ``access_claims(**overrides)`` with ``signing_key`` (``key=`` for another one)."""

    def make(*, key: JWK | None = None, typ: str = "at+jwt", **overrides: Any) -> str:
        return sign_compact(access_claims(**overrides), key or signing_key, typ=typ)

    return make
