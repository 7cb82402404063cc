"""``PasswordHasher`` (argon2id) and ``PasswordPolicy``."""

from __future__ import annotations

import threading
import unicodedata

import argon2
import pytest

from ostiary.authn import PasswordHasher, PasswordPolicy
from ostiary.errors import ConfigurationError, InvalidRequest, WeakPassword


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(memory_cost=1024, time_cost=1)


def test_the_defaults_are_the_owasp_minimum_for_argon2id() -> None:
    parameters = PasswordHasher().parameters
    assert parameters.type is argon2.Type.ID
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (19456, 2, 1)


async def test_a_hash_is_argon2id_with_the_configured_parameters(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert "correct horse" not in stored
    assert stored != await hasher.hash("correct horse battery")  # salted


async def test_verify_accepts_the_password_and_refuses_any_other(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery")
    assert await hasher.verify(stored, "correct horse battery")
    assert not await hasher.verify(stored, "correct horse batterY")
    assert not await hasher.verify(stored, "")


async def test_composed_and_decomposed_spellings_are_one_password(hasher: PasswordHasher) -> None:
    composed = "café au lait!"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert await hasher.verify(await hasher.hash(composed), decomposed)


@pytest.mark.parametrize("stored", ["", "not a hash", "$argon2id$v=19$m=1024,t=1,p=1$AAAA$AAAA"])
async def test_a_malformed_stored_hash_never_verifies(hasher: PasswordHasher, stored: str) -> None:
    assert not await hasher.verify(stored, "anything at all")


async def test_verify_dummy_runs_a_real_verification(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real_verify = argon2.PasswordHasher.verify

    def recording_verify(self: argon2.PasswordHasher, stored: str, password: str) -> bool:
        checked.append(stored)
        return real_verify(self, stored, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", recording_verify)
    await hasher.verify_dummy("whatever was typed")
    assert len(checked) == 1 and checked[0].startswith("$argon2id$v=19$m=1024,t=1,p=1$")


async def test_hashing_runs_off_the_event_loop_thread(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    real_hash = argon2.PasswordHasher.hash

    def recording_hash(self: argon2.PasswordHasher, password: str | bytes) -> str:
        threads.append(threading.get_ident())
        return real_hash(self, password)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", recording_hash)
    await hasher.hash("correct horse battery")
    assert threads and threads[0] != threading.get_ident()


async def test_a_change_of_parameters_asks_for_a_rehash(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery")
    assert not hasher.needs_rehash(stored)
    stronger = PasswordHasher(memory_cost=2048, time_cost=1)
    assert stronger.needs_rehash(stored)
    assert await stronger.verify(stored, "correct horse battery")  # old hashes still verify


def test_a_malformed_stored_hash_asks_for_a_rehash(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash("not a hash")


def test_unusable_parameters_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        PasswordHasher(memory_cost=1, time_cost=1)
    with pytest.raises(ConfigurationError):
        PasswordHasher(memory_cost=1024, time_cost=1, salt_len=8)


# --- the policy ------------------------------------------------------------------------------


def test_twelve_characters_pass_and_eleven_do_not() -> None:
    policy = PasswordPolicy()
    policy.check("a" * 12)
    with pytest.raises(WeakPassword) as caught:
        policy.check("a" * 11)
    assert "at least 12 characters" in caught.value.description


def test_length_counts_characters_after_nfc_not_code_points_typed() -> None:
    decomposed = "e\u0301" * 6  # 12 code points, 6 characters once composed
    with pytest.raises(WeakPassword):
        PasswordPolicy().check(decomposed)
    PasswordPolicy().check("é" * 12)  # 12 characters, 24 bytes


def test_1024_bytes_pass_and_1025_do_not() -> None:
    policy = PasswordPolicy()
    policy.check("a" * 1024)
    with pytest.raises(WeakPassword) as caught:
        policy.check("a" * 1025)
    assert "at most 1024 bytes" in caught.value.description


def test_the_byte_limit_counts_utf8_bytes_not_characters() -> None:
    policy = PasswordPolicy()
    policy.check("é" * 512)  # 1,024 bytes
    with pytest.raises(WeakPassword):
        policy.check("é" * 512 + "a")  # 1,025 bytes, 513 characters


def test_a_huge_password_is_refused_before_it_is_normalized() -> None:
    with pytest.raises(WeakPassword):
        PasswordPolicy().check("a" * 10_000_000)


def test_a_weak_password_is_a_400_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as caught:
        PasswordPolicy(min_length=20).check("a" * 19)
    assert (caught.value.status_code, caught.value.error) == (400, "invalid_request")
