"""Attack: a proof captured in transit (a log, a proxy) replayed with its token at the API
(RFC 9449 §11.1). The same request again, the same proof for another route, the same proof
at another instance of the service sharing its replay cache, and the proof once the replay
cache may have forgotten it: each refused ``invalid_dpop_proof``. A proof is accepted once."""

from __future__ import annotations

import pytest

from ostiary.clock import FrozenClock
from ostiary.dpop import DPoPChecker, MemoryReplayCache
from ostiary.jose import JWK
from ostiary.resource import TokenVerifier
from tests.security._attacks import REFUSAL_TIMEOUT
from tests.unit.resource._dpop import (
    Kind,
    bound_token,
    dpop_headers,
    proof,
    refusal_reason,
    send_within,
    service,
    verifier_for,
)
from tests.unit.resource._tokens import T0

HOLDER = JWK.generate("ES256")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def verifier(es256_key: JWK, clock: FrozenClock) -> TokenVerifier:
    return verifier_for(es256_key, clock)


async def test_the_same_request_again(kind: Kind, verifier: TokenVerifier, es256_key: JWK) -> None:
    token = bound_token(es256_key, HOLDER)
    captured = dpop_headers(token, proof(HOLDER, token=token))
    api = service(kind, verifier)
    assert (await api.request("GET", "/orders", captured)).status == 200
    for _ in range(3):
        answer = await send_within(api, captured, timeout=REFUSAL_TIMEOUT)
        answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [captured[1][1]]) == "replayed"


async def test_the_same_proof_with_another_method(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK
) -> None:
    token = bound_token(es256_key, HOLDER)
    captured = dpop_headers(token, proof(HOLDER, token=token))
    api = service(kind, verifier)
    assert (await api.request("GET", "/orders", captured)).status == 200
    answer = await send_within(api, captured, method="POST", timeout=REFUSAL_TIMEOUT)
    answer.refused_with(401, "invalid_dpop_proof")


async def test_at_another_instance_sharing_the_replay_cache(
    kind: Kind, es256_key: JWK, clock: FrozenClock
) -> None:
    """Two instances of a service behind a load balancer, one shared replay store."""
    shared = MemoryReplayCache()
    first = service(kind, verifier_for(es256_key, clock, dpop=DPoPChecker(shared, clock=clock)))
    second = service(kind, verifier_for(es256_key, clock, dpop=DPoPChecker(shared, clock=clock)))
    token = bound_token(es256_key, HOLDER)
    captured = dpop_headers(token, proof(HOLDER, token=token))
    assert (await first.request("GET", "/orders", captured)).status == 200
    answer = await send_within(second, captured, timeout=REFUSAL_TIMEOUT)
    answer.refused_with(401, "invalid_dpop_proof")


async def test_once_the_window_has_passed(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, clock: FrozenClock
) -> None:
    """After ``max_age + leeway`` the replay cache may forget a ``jti``: by then the proof's
    ``iat`` is too old and it is refused all the same (``expired``)."""
    token = bound_token(es256_key, HOLDER, ttl=3600)
    captured = dpop_headers(token, proof(HOLDER, token=token))
    api = service(kind, verifier)
    assert (await api.request("GET", "/orders", captured)).status == 200
    clock.advance(verifier.dpop.rules.remembered_for + 1)
    answer = await send_within(api, captured, timeout=REFUSAL_TIMEOUT)
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [captured[1][1]]) == "expired"


async def test_the_same_jti_by_another_key_is_another_proof(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK
) -> None:
    """The control: ``jti`` is unique per key (§11.1), so two clients that happen to choose
    the same one do not refuse each other."""
    other = JWK.generate("ES256")
    api = service(kind, verifier)
    for key in (HOLDER, other):
        token = bound_token(es256_key, key)
        headers = dpop_headers(token, proof(key, token=token, jti="same-jti"))
        assert (await api.request("GET", "/orders", headers)).status == 200
