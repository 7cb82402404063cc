"""TokenVerifier with DPoP (RFC 9449 §7): ``verify_dpop`` wants a bound token and a proof by
its key; ``verify`` (the bearer path) refuses a bound token; the checks run in the order that
keeps the replay cache for proofs that passed everything."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ostiary.clock import FrozenClock
from ostiary.dpop import DPoPChecker, DPoPNonces, MemoryReplayCache
from ostiary.errors import (
    BoundTokenAsBearer,
    ConfigurationError,
    DPoPKeyMismatch,
    Expired,
    InvalidClaim,
    InvalidDPoPProof,
    NotDPoPBound,
    Revoked,
    UseDPoPNonce,
)
from ostiary.jose import JWK
from ostiary.keys import generate_key
from ostiary.resource import TokenVerifier
from ostiary.tokens.access import AccessTokenIssuer

from ._dpop import API, bound_token, proof, verifier_for
from ._tokens import AUDIENCE, ISSUER, T0, mint

ISSUER_KEY = generate_key("ES256")
HOLDER = JWK.generate("ES256")
OTHER = JWK.generate("ES256")
URL = f"{API}/orders"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def verifier(clock: FrozenClock) -> TokenVerifier:
    return verifier_for(ISSUER_KEY, clock)


def check(verifier: TokenVerifier, token: str, *proofs: str, url: str = URL) -> Any:
    return verifier.verify_dpop_sync(token, list(proofs), method="GET", url=url)


async def test_a_bound_token_with_its_proof_is_accepted(verifier: TokenVerifier) -> None:
    token = bound_token(ISSUER_KEY, HOLDER, sub="alice")
    claims = await verifier.verify_dpop(token, proof(HOLDER, token=token), method="GET", url=URL)
    assert (claims.sub, claims.dpop_jkt) == ("alice", HOLDER.thumbprint())
    again = check(verifier, token, proof(HOLDER, token=token, url=URL + "?page=2"))
    assert again is claims  # the token's verification is cached; each proof is checked


def test_a_token_from_the_issuer_of_the_server_side(clock: FrozenClock) -> None:
    """The token shape AccessTokenIssuer makes for a DPoP-bound grant (``cnf.jkt``)."""
    issuer = AccessTokenIssuer(lambda: ISSUER_KEY, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    token = issuer.issue(
        subject="svc", client_id="svc", scope="orders:read", dpop_jkt=HOLDER.thumbprint()
    ).token
    verifier = verifier_for(ISSUER_KEY, clock)
    assert check(verifier, token, proof(HOLDER, token=token)).dpop_jkt == HOLDER.thumbprint()
    with pytest.raises(BoundTokenAsBearer):
        verifier.verify_sync(token)


async def test_the_bearer_path_refuses_a_bound_token(verifier: TokenVerifier) -> None:
    """RFC 9449 §7.2, before and after the token was verified (and cached) as a DPoP one."""
    token = bound_token(ISSUER_KEY, HOLDER)
    for _ in range(2):
        with pytest.raises(BoundTokenAsBearer):
            verifier.verify_sync(token)
        with pytest.raises(BoundTokenAsBearer):
            await verifier.verify(token)
        check(verifier, token, proof(HOLDER, token=token))
    # any confirmation claim (RFC 7800), not only jkt, makes a token sender-constrained
    mtls = mint(ISSUER_KEY, now=T0, cnf={"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})
    with pytest.raises(BoundTokenAsBearer):
        verifier.verify_sync(mtls)


def test_an_unbound_token_under_dpop_is_refused(verifier: TokenVerifier) -> None:
    token = mint(ISSUER_KEY, now=T0)
    with pytest.raises(NotDPoPBound):
        check(verifier, token, proof(HOLDER, token=token))
    assert verifier.verify_sync(token).dpop_jkt is None  # as a bearer token it is fine


@pytest.mark.parametrize(
    "cnf",
    [
        pytest.param("jkt", id="cnf-not-an-object"),
        pytest.param({"jkt": 42}, id="jkt-not-a-string"),
        pytest.param({"jkt": "short"}, id="jkt-not-a-sha256-thumbprint"),
        pytest.param({"x5t#S256": "abc"}, id="another-confirmation-method"),
    ],
)
def test_a_malformed_confirmation_is_refused(verifier: TokenVerifier, cnf: Any) -> None:
    token = mint(ISSUER_KEY, now=T0, cnf=cnf)
    with pytest.raises((InvalidClaim, NotDPoPBound)):
        check(verifier, token, proof(HOLDER, token=token))


def test_a_bad_token_is_refused_before_its_proof_is_looked_at(
    verifier: TokenVerifier, clock: FrozenClock
) -> None:
    expired = bound_token(ISSUER_KEY, HOLDER, now=T0 - 3600)
    with pytest.raises(Expired):
        check(verifier, expired, "not even a proof")


def test_the_proof_key_must_be_the_tokens(verifier: TokenVerifier) -> None:
    token = bound_token(ISSUER_KEY, HOLDER)
    stolen = proof(OTHER, token=token, jti="attacker-1")
    with pytest.raises(DPoPKeyMismatch) as refused:
        check(verifier, token, stolen)
    assert refused.value.description == "Invalid DPoP key binding."
    replay = verifier.dpop.replay
    assert isinstance(replay, MemoryReplayCache)
    assert len(replay) == 0  # nothing remembered: the attacker cannot fill the cache


def test_ath_binds_the_proof_to_the_token(verifier: TokenVerifier) -> None:
    token = bound_token(ISSUER_KEY, HOLDER)
    other_token = bound_token(ISSUER_KEY, HOLDER, sub="bob")
    for wrong in (proof(HOLDER), proof(HOLDER, token=other_token)):
        with pytest.raises(InvalidDPoPProof) as refused:
            check(verifier, token, wrong)
        assert refused.value.reason == "wrong_ath"


def test_a_proof_is_accepted_once(verifier: TokenVerifier) -> None:
    token = bound_token(ISSUER_KEY, HOLDER)
    once = proof(HOLDER, token=token)
    check(verifier, token, once)
    with pytest.raises(InvalidDPoPProof) as refused:
        check(verifier, token, once)
    assert refused.value.reason == "replayed"


def test_exactly_one_proof(verifier: TokenVerifier) -> None:
    token = bound_token(ISSUER_KEY, HOLDER)
    for proofs in ([], [proof(HOLDER, token=token), proof(HOLDER, token=token)]):
        with pytest.raises(InvalidDPoPProof):
            check(verifier, token, *proofs)


def test_resource_server_nonces(clock: FrozenClock) -> None:
    """RFC 9449 §9: without the current nonce, UseDPoPNonce carries it; with it, accepted."""
    nonces = DPoPNonces(b"n" * 32)
    checker = DPoPChecker(MemoryReplayCache(), nonces=nonces, clock=clock)
    verifier = verifier_for(ISSUER_KEY, clock, dpop=checker)
    token = bound_token(ISSUER_KEY, HOLDER)
    with pytest.raises(UseDPoPNonce) as asked:
        check(verifier, token, proof(HOLDER, token=token))
    assert asked.value.nonce == nonces.current(T0)
    assert check(verifier, token, proof(HOLDER, token=token, nonce=asked.value.nonce)).dpop_jkt


def test_revoking_a_bound_token(verifier: TokenVerifier) -> None:
    token = bound_token(ISSUER_KEY, HOLDER, jti="bound-1")
    check(verifier, token, proof(HOLDER, token=token))
    verifier.revoke_token("bound-1", expires_at=T0 + 300)
    with pytest.raises(Revoked):
        check(verifier, token, proof(HOLDER, token=token))


class AsyncOnlyReplay:
    """A shared store as a service plugs one in: ``first_use`` only."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def first_use(self, key: str, *, expires_at: float, now: float) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


async def test_a_replay_cache_of_its_own(clock: FrozenClock) -> None:
    replay = AsyncOnlyReplay()
    verifier = verifier_for(ISSUER_KEY, clock, dpop=DPoPChecker(replay, clock=clock))
    token = bound_token(ISSUER_KEY, HOLDER)
    once = proof(HOLDER, token=token)
    await verifier.verify_dpop(token, once, method="GET", url=URL)
    assert len(replay.seen) == 1
    with pytest.raises(InvalidDPoPProof):
        await verifier.verify_dpop(token, once, method="GET", url=URL)
    with pytest.raises(ConfigurationError):  # no first_use_sync: no sync path
        check(verifier, token, proof(HOLDER, token=token))


def test_each_verifier_has_its_own_replay_cache(clock: FrozenClock) -> None:
    one, two = verifier_for(ISSUER_KEY, clock), verifier_for(ISSUER_KEY, clock)
    assert one.dpop.replay is not two.dpop.replay
    assert isinstance(one.dpop.replay, MemoryReplayCache)


@pytest.fixture
def eager_thread_switches() -> Iterator[None]:
    """Threads switch as often as the interpreter allows, so that a race shows."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.usefixtures("eager_thread_switches")
def test_the_memory_replay_cache_lets_one_thread_win_a_race() -> None:
    """Threads of a WSGI server presenting the same proof at once: exactly one is first
    (without a lock, about one round in twenty had several winners)."""
    cache = MemoryReplayCache()
    rounds, threads = 300, 8
    for n in range(rounds):
        barrier = threading.Barrier(threads)
        wins: list[bool] = []

        def race(
            key: str = f"jti-{n}", barrier: threading.Barrier = barrier, wins: list[bool] = wins
        ) -> None:
            barrier.wait()
            wins.append(cache.first_use_sync(key, expires_at=T0 + 60, now=T0))

        workers = [threading.Thread(target=race) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert wins.count(True) == 1, f"round {n}: {wins.count(True)} threads saw it first"
