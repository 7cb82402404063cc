"""``PasswordHasher`` (argon2id) and ``PasswordPolicy``."""

from __future__ import annotations

import asyncio
import os
import threading
import unicodedata
from collections.abc import Iterator

import argon2
import pytest

from ostiary.authn import PasswordHasher, PasswordPolicy, passwords
from ostiary.errors import ConfigurationError, InvalidRequest, WeakPassword
from ostiary.settings import Settings
from ostiary.wiring import password_hasher


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    hasher = PasswordHasher(memory_cost=1024, time_cost=1)
    yield hasher
    hasher.close()


def test_the_defaults_are_the_owasp_minimum_for_argon2id() -> None:
    owasp = PasswordHasher()
    owasp.close()
    parameters = owasp.parameters
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


async def test_hashing_and_verifying_run_on_the_hashers_threads_off_the_event_loop(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    real_hash, real_verify = argon2.PasswordHasher.hash, argon2.PasswordHasher.verify

    def recording_hash(self: argon2.PasswordHasher, password: str | bytes) -> str:
        threads.append(threading.current_thread())
        return real_hash(self, password)

    def recording_verify(self: argon2.PasswordHasher, stored: str, password: str) -> bool:
        threads.append(threading.current_thread())
        return real_verify(self, stored, password)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", recording_hash)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", recording_verify)
    stored = await hasher.hash("correct horse battery")
    await asyncio.gather(
        *(hasher.verify(stored, "correct horse battery") for _ in range(4)),
        hasher.verify_dummy("whatever was typed"),
    )
    assert len(threads) == 6
    assert len(set(threads)) <= len(os.sched_getaffinity(0))  # one thread per usable CPU at most
    assert all(t is not threading.current_thread() for t in threads)
    assert all(t.name.startswith("ostiary-argon2") for t in threads)


async def test_one_worker_means_every_hash_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real_verify = argon2.PasswordHasher.verify

    def recording_verify(self: argon2.PasswordHasher, stored: str, password: str) -> bool:
        threads.append(threading.current_thread())
        return real_verify(self, stored, password)

    hasher = PasswordHasher(memory_cost=1024, time_cost=1, workers=1)
    try:
        stored = await hasher.hash("correct horse battery")
        monkeypatch.setattr(argon2.PasswordHasher, "verify", recording_verify)
        await asyncio.gather(*(hasher.verify(stored, "correct horse battery") for _ in range(4)))
    finally:
        hasher.close()
    assert len(threads) == 4 and len(set(threads)) == 1


async def test_memory_is_trimmed_on_the_worker_once_hashing_goes_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trimmed: list[tuple[int, str]] = []

    def recording_trim(pad: int) -> int:
        trimmed.append((pad, threading.current_thread().name))
        return 1

    monkeypatch.setattr(passwords, "_MALLOC_TRIM", recording_trim)
    hasher = PasswordHasher(memory_cost=1024, time_cost=1, trim_after_idle=0.05)
    try:
        await asyncio.sleep(0.01)
        assert len(trimmed) == 1  # after the dummy hash made at construction
        stored = await hasher.hash("correct horse battery")
        await asyncio.gather(
            hasher.verify(stored, "wrong"),
            hasher.verify(stored, "correct horse battery"),
            hasher.verify_dummy("whatever was typed"),
        )
        assert len(trimmed) == 1  # not between the hashes of a busy hasher
        await asyncio.sleep(0.2)
        assert len(trimmed) == 2  # once, when idle
        assert all(pad == 0 and name.startswith("ostiary-argon2") for pad, name in trimmed)
    finally:
        hasher.close()


async def test_close_stops_the_worker_thread_and_refuses_further_hashing() -> None:
    before = set(threading.enumerate())
    hasher = PasswordHasher(memory_cost=1024, time_cost=1)
    await hasher.hash("correct horse battery")
    workers = set(threading.enumerate()) - before
    hasher.close()
    hasher.close()  # idempotent
    assert workers and not any(t.is_alive() for t in workers)
    with pytest.raises(RuntimeError):
        await hasher.hash("correct horse battery")


async def test_a_change_of_parameters_asks_for_a_rehash(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery")
    assert not hasher.needs_rehash(stored)
    stronger = PasswordHasher(memory_cost=2048, time_cost=1)
    try:
        assert stronger.needs_rehash(stored)
        assert await stronger.verify(stored, "correct horse battery")  # old hashes still verify
    finally:
        stronger.close()


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


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_the_concurrency_setting_bounds_the_hashes_running_at_once(
    monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    """``OSTIARY_ARGON2_CONCURRENCY``: at most that many hashes hold their memory at once,
    however many logins arrive together (issue 11: the memory of a login flood is bounded)."""
    running = 0
    most = 0
    lock = threading.Lock()
    real_verify = argon2.PasswordHasher.verify

    def counting_verify(self: argon2.PasswordHasher, stored: str, password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return real_verify(self, stored, password)
        finally:
            with lock:
                running -= 1

    settings = Settings(
        database_url="memory://",
        argon2_memory_kib=1024,
        argon2_time_cost=1,
        argon2_concurrency=concurrency,
    )
    hasher = password_hasher(settings)
    try:
        stored = await hasher.hash("correct horse battery")
        monkeypatch.setattr(argon2.PasswordHasher, "verify", counting_verify)
        answers = await asyncio.gather(
            *(hasher.verify(stored, "correct horse battery") for _ in range(8))
        )
    finally:
        hasher.close()
    assert all(answers)
    assert 1 <= most <= concurrency
