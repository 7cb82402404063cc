"""DPoP with its state (RFC 9449): :class:`DPoPChecker` around the stateless proof checks, the
``jti`` replay cache (§11.1) and server nonces (§8, §9).

Time is a :class:`~ostiary.clock.FrozenClock` moved by hand: nothing sleeps to expire a proof,
a nonce or a cache entry. The replay cache shared by several workers is the real SQL
:class:`~ostiary.storage.protocols.OnceStore`, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from ostiary.clock import FrozenClock
from ostiary.dpop import (
    DEFAULT_NONCE_LIFETIME,
    DPoPChecker,
    DPoPNonces,
    DPoPProof,
    MemoryReplayCache,
    ProofRules,
    ReplayCache,
)
from ostiary.errors import InvalidDPoPProof, TemporarilyUnavailable, UseDPoPNonce
from ostiary.jose import JWK
from ostiary.jose.dpop import DEFAULT_PROOF_RULES, make_proof
from ostiary.storage import MEMORY_URL, Storage, open_storage
from ostiary.storage.sql import upgrade
from tests._postgres import PostgresUnavailable, in_thread, postgres_database

#: A time at the start of a nonce window (a multiple of the default nonce lifetime).
NOW: Final = 1_700_000_100
assert NOW % DEFAULT_NONCE_LIFETIME == 0
METHOD: Final = "POST"
URL: Final = "https://server.example.com/token"
WINDOW: Final = DEFAULT_PROOF_RULES.remembered_for
SECRET: Final = b"s" * 32
NQCHARS: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")


@pytest.fixture(scope="module")
def key() -> JWK:
    return JWK.generate("ES256")


@pytest.fixture(scope="module")
def other_key() -> JWK:
    return JWK.generate("ES256")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def cache() -> MemoryReplayCache:
    return MemoryReplayCache()


@pytest.fixture
def checker(cache: MemoryReplayCache, clock: FrozenClock) -> DPoPChecker:
    return DPoPChecker(cache, clock=clock)


def proof(
    key: JWK,
    *,
    jti: str = "jti-1",
    iat: float = NOW,
    nonce: str | None = None,
    method: str = METHOD,
    url: str = URL,
    access_token: str | None = None,
) -> str:
    return make_proof(
        key,
        method=method,
        url=url,
        jti=jti,
        iat=int(iat),
        nonce=nonce,
        access_token=access_token,
    )


async def check(checker: DPoPChecker, *proofs: str, **kwargs: Any) -> DPoPProof:
    options: dict[str, Any] = {"method": METHOD, "url": URL, **kwargs}
    return await checker.check(list(proofs), **options)


async def refused(checker: DPoPChecker, *proofs: str, reason: str, **kwargs: Any) -> None:
    with pytest.raises(InvalidDPoPProof) as info:
        await check(checker, *proofs, **kwargs)
    assert info.value.reason == reason, info.value.detail


# --- one proof, once --------------------------------------------------------------------------


async def test_a_good_proof_passes_once(checker: DPoPChecker, key: JWK) -> None:
    good = proof(key)
    checked = await check(checker, good)
    assert (checked.jkt, checked.jti, checked.htm, checked.htu) == (
        key.thumbprint(),
        "jti-1",
        METHOD,
        URL,
    )
    await refused(checker, good, reason="replayed")


async def test_no_proof_is_refused(checker: DPoPChecker) -> None:
    await refused(checker, reason="missing")
    await refused(checker, "", reason="missing")
    await refused(checker, "  ", reason="missing")


async def test_two_proofs_are_refused(checker: DPoPChecker, key: JWK) -> None:
    first, second = proof(key, jti="a"), proof(key, jti="b")
    await refused(checker, first, second, reason="several")
    await refused(checker, first, first, reason="several")
    # Neither was used up by the refusal.
    assert (await check(checker, first)).jti == "a"
    assert (await check(checker, second)).jti == "b"


async def test_surrounding_whitespace_is_ignored(checker: DPoPChecker, key: JWK) -> None:
    assert (await check(checker, f" {proof(key)}\t")).jti == "jti-1"


async def test_a_proof_that_fails_a_stateless_check_does_not_use_up_its_jti(
    checker: DPoPChecker, key: JWK
) -> None:
    await refused(checker, proof(key, method="GET"), reason="wrong_method")
    await refused(checker, proof(key, url=URL + "/x"), reason="wrong_uri")
    await refused(checker, proof(key), reason="wrong_ath", access_token="at")
    assert (await check(checker, proof(key))).jti == "jti-1"


async def test_the_access_token_is_checked(checker: DPoPChecker, key: JWK) -> None:
    bound = proof(key, access_token="at-1")
    await refused(checker, bound, reason="wrong_ath", access_token="at-2")
    assert (await check(checker, bound, access_token="at-1")).jti == "jti-1"


# --- replays (§11.1) ---------------------------------------------------------------------------


async def test_the_same_jti_from_another_key_is_accepted(
    checker: DPoPChecker, key: JWK, other_key: JWK
) -> None:
    assert (await check(checker, proof(key))).jkt == key.thumbprint()
    assert (await check(checker, proof(other_key))).jkt == other_key.thumbprint()
    await refused(checker, proof(other_key), reason="replayed")


async def test_the_same_jti_in_a_fresh_proof_is_a_replay_until_the_window_ends(
    checker: DPoPChecker, clock: FrozenClock, key: JWK
) -> None:
    assert await check(checker, proof(key, iat=NOW))
    for later in (1, 30, WINDOW):
        clock.set(NOW + later)
        await refused(checker, proof(key, iat=NOW + later), reason="replayed")
    clock.set(NOW + WINDOW + 1)
    assert (await check(checker, proof(key, iat=NOW + WINDOW + 1))).iat == NOW + WINDOW + 1
    await refused(checker, proof(key, iat=NOW + WINDOW + 1), reason="replayed")


async def test_a_replay_at_the_last_moment_the_proof_is_valid_is_refused(
    checker: DPoPChecker, clock: FrozenClock, key: JWK
) -> None:
    # A proof dated as far ahead as the leeway allows lives longest.
    ahead = proof(key, iat=NOW + DEFAULT_PROOF_RULES.leeway)
    assert await check(checker, ahead)
    clock.set(NOW + DEFAULT_PROOF_RULES.leeway + WINDOW)
    await refused(checker, ahead, reason="replayed")
    clock.advance(0.001)
    await refused(checker, ahead, reason="expired")


async def test_the_replay_key_is_scoped(
    cache: MemoryReplayCache, clock: FrozenClock, key: JWK
) -> None:
    token_endpoint = DPoPChecker(cache, clock=clock, scope="as")
    resource = DPoPChecker(cache, clock=clock, scope="rs")
    also_token_endpoint = DPoPChecker(cache, clock=clock, scope="as")
    once = proof(key)
    assert await check(token_endpoint, once)
    assert await check(resource, once)
    await refused(also_token_endpoint, once, reason="replayed")
    await refused(resource, once, reason="replayed")
    assert len(cache) == 2


async def test_replay_rules_follow_the_checkers_rules(
    cache: MemoryReplayCache, clock: FrozenClock, key: JWK
) -> None:
    rules = ProofRules(max_age=10, leeway=0)
    short = DPoPChecker(cache, clock=clock, rules=rules)
    assert short.algorithms == rules.algorithms
    assert await check(short, proof(key))
    clock.set(NOW + 10)
    await refused(short, proof(key, iat=NOW + 10), reason="replayed")
    clock.set(NOW + 11)
    assert await check(short, proof(key, iat=NOW + 11))


# --- nonces (§8, §9) ---------------------------------------------------------------------------


@pytest.fixture
def nonces() -> DPoPNonces:
    return DPoPNonces(SECRET)


@pytest.fixture
def nonce_checker(cache: MemoryReplayCache, clock: FrozenClock, nonces: DPoPNonces) -> DPoPChecker:
    return DPoPChecker(cache, clock=clock, nonces=nonces)


async def test_a_missing_nonce_asks_for_the_current_one(
    nonce_checker: DPoPChecker, nonces: DPoPNonces, key: JWK
) -> None:
    with pytest.raises(UseDPoPNonce) as info:
        await check(nonce_checker, proof(key))
    assert info.value.nonce == nonces.current(NOW) == nonce_checker.fresh_nonce()
    assert info.value.error == "use_dpop_nonce"
    assert info.value.status_code == 400
    # The retry, with the nonce, may even reuse the jti: the refusal did not use it up.
    retried = await check(nonce_checker, proof(key, nonce=info.value.nonce))
    assert retried.nonce == info.value.nonce


async def test_the_previous_windows_nonce_is_accepted(
    nonce_checker: DPoPChecker, clock: FrozenClock, key: JWK
) -> None:
    issued = nonce_checker.fresh_nonce()
    assert issued is not None
    clock.set(NOW + DEFAULT_NONCE_LIFETIME - 1)
    assert nonce_checker.fresh_nonce() == issued
    assert await check(nonce_checker, proof(key, jti="a", nonce=issued, iat=clock.now()))
    clock.set(NOW + 2 * DEFAULT_NONCE_LIFETIME - 1)
    assert nonce_checker.fresh_nonce() != issued
    assert await check(nonce_checker, proof(key, jti="b", nonce=issued, iat=clock.now()))


async def test_a_nonce_two_windows_old_is_refused(
    nonce_checker: DPoPChecker, clock: FrozenClock, nonces: DPoPNonces, key: JWK
) -> None:
    stale = nonces.current(NOW)
    clock.set(NOW + 2 * DEFAULT_NONCE_LIFETIME)
    with pytest.raises(UseDPoPNonce) as info:
        await check(nonce_checker, proof(key, nonce=stale, iat=clock.now()))
    assert info.value.nonce == nonces.current(clock.now()) != stale


async def test_a_nonce_from_another_secret_is_refused(
    nonce_checker: DPoPChecker, nonces: DPoPNonces, key: JWK
) -> None:
    foreign = DPoPNonces(b"t" * 32).current(NOW)
    assert foreign != nonces.current(NOW)
    with pytest.raises(UseDPoPNonce) as info:
        await check(nonce_checker, proof(key, nonce=foreign))
    assert info.value.nonce == nonces.current(NOW)


@pytest.mark.parametrize("bogus", ["x", "AAAA", "a" * 65])
async def test_a_made_up_nonce_is_refused(bogus: str, nonce_checker: DPoPChecker, key: JWK) -> None:
    with pytest.raises(UseDPoPNonce):
        await check(nonce_checker, proof(key, nonce=bogus))


async def test_a_nonce_from_the_future_is_refused(
    nonce_checker: DPoPChecker, nonces: DPoPNonces, key: JWK
) -> None:
    with pytest.raises(UseDPoPNonce):
        await check(nonce_checker, proof(key, nonce=nonces.current(NOW + DEFAULT_NONCE_LIFETIME)))


def test_nonces_are_shared_by_instances_with_one_secret(nonces: DPoPNonces) -> None:
    twin = DPoPNonces(SECRET)
    for now in (NOW, NOW + 1, NOW + DEFAULT_NONCE_LIFETIME, 0, 2**40):
        assert twin.current(now) == nonces.current(now)
        assert twin.accepts(nonces.current(now), now)
        assert NQCHARS.fullmatch(nonces.current(now))
        assert len(nonces.current(now)) <= 64
    assert nonces.current(NOW) != nonces.current(NOW + DEFAULT_NONCE_LIFETIME)


@pytest.mark.parametrize("nonce", [None, "", "é", "\udc80", "a" * 65, "ééé" * 8])
def test_nonces_accept_nothing_odd(nonce: str | None, nonces: DPoPNonces) -> None:
    assert not nonces.accepts(nonce, NOW)


def test_nonces_need_a_32_byte_secret_and_a_positive_lifetime() -> None:
    with pytest.raises(ValueError):
        DPoPNonces(b"s" * 31)
    with pytest.raises(ValueError):
        DPoPNonces(b"")
    for lifetime in (0, -1):
        with pytest.raises(ValueError):
            DPoPNonces(SECRET, lifetime=lifetime)
    short = DPoPNonces(SECRET, lifetime=10)
    assert short.accepts(short.current(NOW), NOW + 19)
    assert not short.accepts(short.current(NOW), NOW + 20)


def test_no_nonce_without_nonces(checker: DPoPChecker) -> None:
    assert checker.fresh_nonce() is None


# --- MemoryReplayCache --------------------------------------------------------------------------


def test_memory_cache_uses_a_key_once_until_it_expires() -> None:
    cache = MemoryReplayCache()
    assert cache.first_use_sync("k", expires_at=NOW + 60, now=NOW)
    assert not cache.first_use_sync("k", expires_at=NOW + 60, now=NOW + 1)
    assert not cache.first_use_sync("k", expires_at=NOW + 120, now=NOW + 60)  # at its expiry
    assert cache.first_use_sync("k", expires_at=NOW + 120, now=NOW + 61)
    assert not cache.first_use_sync("k", expires_at=NOW + 120, now=NOW + 62)
    # Already expired when first seen: still used once at that time.
    assert cache.first_use_sync("old", expires_at=NOW - 10, now=NOW)
    assert not cache.first_use_sync("old", expires_at=NOW - 10, now=NOW)


async def test_memory_cache_first_use_is_first_use_sync() -> None:
    cache: ReplayCache = MemoryReplayCache()
    assert await cache.first_use("k", expires_at=NOW + 60, now=NOW)
    assert not await cache.first_use("k", expires_at=NOW + 60, now=NOW)


def test_memory_cache_capacity_must_be_positive() -> None:
    for capacity in (0, -1):
        with pytest.raises(ValueError):
            MemoryReplayCache(capacity=capacity)


def test_memory_cache_full_of_live_entries_refuses_new_ones() -> None:
    cache = MemoryReplayCache(capacity=3)
    for n in range(3):
        assert cache.first_use_sync(f"k{n}", expires_at=NOW + 60, now=NOW)
    with pytest.raises(TemporarilyUnavailable) as info:
        cache.first_use_sync("k3", expires_at=NOW + 60, now=NOW + 1)
    assert info.value.status_code == 503
    # A replay is still recognised as one, full or not.
    assert not cache.first_use_sync("k0", expires_at=NOW + 60, now=NOW + 1)
    assert len(cache) == 3


def test_memory_cache_sweeps_expired_entries_and_accepts_again() -> None:
    cache = MemoryReplayCache(capacity=3)
    for n in range(3):
        assert cache.first_use_sync(f"k{n}", expires_at=NOW + 10 + n, now=NOW)
    with pytest.raises(TemporarilyUnavailable):
        cache.first_use_sync("new", expires_at=NOW + 70, now=NOW + 10)
    assert cache.first_use_sync("new", expires_at=NOW + 71, now=NOW + 11)  # k0 expired
    assert len(cache) == 3
    assert cache.first_use_sync("k0", expires_at=NOW + 80, now=NOW + 20)  # k0 forgotten
    assert len(cache) == 2  # k1 and k2 swept


def test_memory_cache_sweeps_expired_entries_behind_a_live_one() -> None:
    """Proofs arrive out of order of expiry (``iat`` may be 65 s old or 5 s ahead): an entry
    that expires late at the front must not keep the expired ones behind it."""
    cache = MemoryReplayCache(capacity=2)
    assert cache.first_use_sync("late", expires_at=NOW + 70, now=NOW)
    assert cache.first_use_sync("early", expires_at=NOW + 5, now=NOW)
    assert cache.first_use_sync("new", expires_at=NOW + 75, now=NOW + 10)
    assert len(cache) == 2
    assert not cache.first_use_sync("late", expires_at=NOW + 75, now=NOW + 10)


def test_memory_cache_lets_one_of_two_threads_through() -> None:
    barrier = threading.Barrier(2, timeout=0.5)

    class Rendezvous(str):
        """A key whose every hashing waits (half a second at most) for the other thread to
        hash it too: two callers without a lock then go in step, both looking the key up
        before either stores it. With a lock the first waits once in vain, the barrier
        breaks, and nothing waits again."""

        def __hash__(self) -> int:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            return str.__hash__(self)

    cache = MemoryReplayCache()
    key = Rendezvous("jti")
    results: list[bool] = []

    def use() -> None:
        results.append(cache.first_use_sync(key, expires_at=NOW + 60, now=NOW))

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]


# --- check_sync --------------------------------------------------------------------------------


def test_check_sync_with_a_memory_cache(checker: DPoPChecker, key: JWK) -> None:
    once = proof(key)
    assert checker.check_sync([once], method=METHOD, url=URL).jkt == key.thumbprint()
    with pytest.raises(InvalidDPoPProof) as info:
        checker.check_sync([once], method=METHOD, url=URL)
    assert info.value.reason == "replayed"
    with pytest.raises(InvalidDPoPProof) as info:
        checker.check_sync([], method=METHOD, url=URL)
    assert info.value.reason == "missing"


def test_check_sync_asks_for_a_nonce(clock: FrozenClock, nonces: DPoPNonces, key: JWK) -> None:
    checker = DPoPChecker(MemoryReplayCache(), clock=clock, nonces=nonces)
    with pytest.raises(UseDPoPNonce) as info:
        checker.check_sync([proof(key)], method=METHOD, url=URL)
    assert checker.check_sync([proof(key, nonce=info.value.nonce)], method=METHOD, url=URL)


async def test_check_sync_refuses_a_cache_without_first_use_sync(
    clock: FrozenClock, key: JWK
) -> None:
    storage = await open_storage(MEMORY_URL)
    checker = DPoPChecker(storage.once, clock=clock)
    with pytest.raises(TypeError):
        checker.check_sync([proof(key)], method=METHOD, url=URL)
    assert await check(checker, proof(key))  # check() works with it
    await storage.close()


async def test_remember_sync_refuses_a_cache_without_first_use_sync(
    clock: FrozenClock, key: JWK
) -> None:
    storage = await open_storage(MEMORY_URL)
    checker = DPoPChecker(storage.once, clock=clock)
    assert not checker.supports_sync
    checked = checker.verify([proof(key)], method=METHOD, url=URL)
    with pytest.raises(TypeError):
        checker.remember_sync(checked)
    await checker.remember(checked)  # the async path works with it
    with pytest.raises(InvalidDPoPProof):
        await checker.remember(checked)
    await storage.close()


def test_a_memory_cache_supports_the_sync_path(checker: DPoPChecker, key: JWK) -> None:
    assert checker.supports_sync
    checked = checker.verify([proof(key)], method=METHOD, url=URL)
    checker.remember_sync(checked)
    with pytest.raises(InvalidDPoPProof) as info:
        checker.remember_sync(checked)
    assert info.value.reason == "replayed"


# --- the SQL OnceStore shared by two workers --------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dpop-sqlite") / "ostiary.db"
    in_thread(lambda: upgrade(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A migrated database of this module's own on the test server, dropped afterwards."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database("ostiary_dpop"))
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
        in_thread(lambda: upgrade(url))
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        (tmp_path / "ostiary.db").write_bytes(template.read_bytes())
        return f"sqlite:///{tmp_path / 'ostiary.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def two_workers(sql_url: str) -> AsyncIterator[tuple[Storage, Storage]]:
    """Two storages on one database, with pools of their own, as two server processes."""
    first, second = await open_storage(sql_url), await open_storage(sql_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_replays_are_refused_across_two_checkers_sharing_the_sql_store(
    two_workers: tuple[Storage, Storage], clock: FrozenClock
) -> None:
    key = JWK.generate("ES256")  # a key of its own: the PostgreSQL database is shared
    first = DPoPChecker(two_workers[0].once, clock=clock)
    second = DPoPChecker(two_workers[1].once, clock=clock)
    a, b = proof(key, jti="a"), proof(key, jti="b")
    assert (await check(first, a)).jti == "a"
    await refused(second, a, reason="replayed")
    await refused(first, a, reason="replayed")
    assert (await check(second, b)).jti == "b"
    await refused(first, b, reason="replayed")
    # After the window the same jti is fresh again (a new proof: the old one has expired).
    clock.set(NOW + WINDOW + 1)
    await refused(first, a, reason="expired")
    assert (await check(second, proof(key, jti="a", iat=clock.now()))).jti == "a"
    await refused(first, proof(key, jti="a", iat=clock.now()), reason="replayed")


async def test_of_concurrent_replays_across_two_workers_one_passes(
    two_workers: tuple[Storage, Storage], clock: FrozenClock
) -> None:
    key = JWK.generate("ES256")
    checkers = [DPoPChecker(storage.once, clock=clock) for storage in two_workers]
    once = proof(key, jti="raced")
    outcomes = await asyncio.gather(
        *(check(checkers[n % 2], once) for n in range(10)), return_exceptions=True
    )
    passed = [o for o in outcomes if isinstance(o, DPoPProof)]
    refusals = [o for o in outcomes if isinstance(o, InvalidDPoPProof)]
    assert len(passed) == 1
    assert len(refusals) == 9
    assert {r.reason for r in refusals} == {"replayed"}


async def test_the_sql_store_keeps_checkers_of_other_scopes_apart(
    two_workers: tuple[Storage, Storage], clock: FrozenClock
) -> None:
    key = JWK.generate("ES256")
    token_endpoint = DPoPChecker(two_workers[0].once, clock=clock, scope="as")
    resource = DPoPChecker(two_workers[1].once, clock=clock, scope="rs")
    once = proof(key)
    assert await check(token_endpoint, once)
    assert await check(resource, once)
    await refused(resource, once, reason="replayed")
