"""The DPoP settings (RFC 9449): the proof algorithms are asymmetric ones only, nonces are off
unless asked for, and the nonce key is derived from the master key, the same in every process
and different for every deployment (docs/configuration.md, "DPoP")."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from ostiary.clock import FrozenClock
from ostiary.jose.dpop import DEFAULT_DPOP_ALGORITHMS
from ostiary.keys.encryption import MasterKey
from ostiary.settings import Settings
from ostiary.storage.memory import MemoryStorage
from ostiary.wiring import dpop_checker

CLOCK = FrozenClock(1_700_000_000.0)


def settings(**values: object) -> Settings:
    return Settings(database_url="memory://", **values)  # type: ignore[arg-type]


def test_the_defaults() -> None:
    defaults = settings()
    assert defaults.dpop_signing_algs == list(DEFAULT_DPOP_ALGORITHMS)
    assert defaults.dpop_nonces is False
    assert (defaults.dpop_nonce_lifetime, defaults.dpop_proof_max_age) == (300, 60)


@pytest.mark.parametrize("algs", [["none"], ["HS256"], ["ES256", "HS512"], [], ["es256"]])
def test_only_asymmetric_algorithms_are_accepted(algs: list[str]) -> None:
    with pytest.raises(ValidationError, match="dpop_signing_algs"):
        settings(dpop_signing_algs=algs)


def test_a_list_of_algorithms_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSTIARY_DPOP_SIGNING_ALGS", '["EdDSA", "ES256", "EdDSA"]')
    assert Settings(database_url="memory://").dpop_signing_algs == ["EdDSA", "ES256"]


def test_the_nonce_key_comes_from_the_master_key() -> None:
    master = SecretStr(MasterKey.new_text())
    on = settings(master_key=master, dpop_nonces=True)
    first = dpop_checker(on, MemoryStorage(), clock=CLOCK)
    second = dpop_checker(on, MemoryStorage(), clock=CLOCK)
    assert first.fresh_nonce() is not None and first.fresh_nonce() == second.fresh_nonce()
    other = settings(master_key=SecretStr(MasterKey.new_text()), dpop_nonces=True)
    assert dpop_checker(other, MemoryStorage(), clock=CLOCK).fresh_nonce() != first.fresh_nonce()
    off = dpop_checker(settings(master_key=master), MemoryStorage(), clock=CLOCK)
    assert off.fresh_nonce() is None


def test_the_checker_follows_the_settings() -> None:
    checker = dpop_checker(
        settings(dpop_signing_algs=["EdDSA"], dpop_proof_max_age=30),
        MemoryStorage(),
        clock=CLOCK,
    )
    assert tuple(checker.algorithms) == ("EdDSA",)
    assert checker.rules.max_age == 30
