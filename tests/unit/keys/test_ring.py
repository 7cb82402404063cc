"""``KeyRing``: the next → active → retired lifecycle, and what the ring publishes."""

from __future__ import annotations

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import ConfigurationError, InvalidKey
from ostiary.jose import JWK, PRIVATE_MEMBERS
from ostiary.keys import KeyRing, KeyState, ManagedKey, generate_key

T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def ring(clock: FrozenClock) -> KeyRing:
    return KeyRing(clock=clock)


def states(ring: KeyRing) -> dict[str, KeyState]:
    return {m.kid: m.state for m in ring}


def test_a_new_key_is_next_and_does_not_sign(ring: KeyRing) -> None:
    managed = ring.add(generate_key())
    assert managed.state is KeyState.NEXT
    assert (managed.created_at, managed.activated_at, managed.retired_at) == (T0, None, None)
    assert ring.active is None
    with pytest.raises(ConfigurationError):
        ring.signing_key  # noqa: B018


def test_a_first_key_may_start_active(ring: KeyRing) -> None:
    key = generate_key()
    managed = ring.add(key, state=KeyState.ACTIVE)
    assert ring.active == managed
    assert managed.activated_at == T0
    assert ring.signing_key is key


def test_at_most_one_active_key(ring: KeyRing) -> None:
    ring.add(generate_key(), state=KeyState.ACTIVE)
    with pytest.raises(ConfigurationError):
        ring.add(generate_key(), state=KeyState.ACTIVE)
    assert len(ring) == 1


def test_a_ring_built_with_two_active_keys_is_refused() -> None:
    keys = [ManagedKey(generate_key(), KeyState.ACTIVE, created_at=T0) for _ in range(2)]
    with pytest.raises(ConfigurationError):
        KeyRing(keys)


def test_a_new_key_cannot_start_retired(ring: KeyRing) -> None:
    with pytest.raises(ConfigurationError):
        ring.add(generate_key(), state=KeyState.RETIRED)


def test_only_private_keys_and_unique_kids(ring: KeyRing) -> None:
    key = generate_key()
    with pytest.raises(InvalidKey):
        ring.add(key.public())
    ring.add(key)
    with pytest.raises(InvalidKey):
        ring.add(key)


def test_rotate_promotes_the_oldest_next_and_retires_the_active(
    ring: KeyRing, clock: FrozenClock
) -> None:
    first = ring.add(generate_key(), state=KeyState.ACTIVE)
    clock.advance(10)
    older = ring.add(generate_key())
    clock.advance(10)
    newer = ring.add(generate_key())
    clock.advance(10)
    promoted = ring.rotate()
    assert promoted.kid == older.kid
    assert promoted.activated_at == T0 + 30
    assert ring.signing_key is older.key
    assert states(ring) == {
        first.kid: KeyState.RETIRED,
        older.kid: KeyState.ACTIVE,
        newer.kid: KeyState.NEXT,
    }
    assert next(m for m in ring if m.kid == first.kid).retired_at == T0 + 30


def test_rotate_activates_a_next_key_on_a_ring_without_active(ring: KeyRing) -> None:
    managed = ring.add(generate_key())
    assert ring.rotate().kid == managed.kid
    assert ring.in_state(KeyState.RETIRED) == []


def test_rotate_needs_a_next_key(ring: KeyRing) -> None:
    ring.add(generate_key(), state=KeyState.ACTIVE)
    with pytest.raises(ConfigurationError):
        ring.rotate()


def test_many_rotations_keep_one_active_key(ring: KeyRing, clock: FrozenClock) -> None:
    ring.add(generate_key(), state=KeyState.ACTIVE)
    for _ in range(4):
        clock.advance(60)
        ring.add(generate_key())
        ring.rotate()
        assert len(ring.in_state(KeyState.ACTIVE)) == 1
    assert len(ring.in_state(KeyState.RETIRED)) == 4


def test_remove_refuses_the_active_key(ring: KeyRing) -> None:
    active = ring.add(generate_key(), state=KeyState.ACTIVE)
    with pytest.raises(ConfigurationError):
        ring.remove(active.kid)
    assert ring.active == active


def test_remove_next_and_retired_keys(ring: KeyRing) -> None:
    retiring = ring.add(generate_key(), state=KeyState.ACTIVE)
    ring.add(generate_key())
    ring.rotate()
    waiting = ring.add(generate_key())
    assert ring.remove(retiring.kid).state is KeyState.RETIRED
    assert ring.remove(waiting.kid) == waiting
    assert len(ring) == 1
    with pytest.raises(KeyError):
        ring.remove(waiting.kid)


def test_prune_removes_keys_retired_before_a_time(ring: KeyRing, clock: FrozenClock) -> None:
    first = ring.add(generate_key(), state=KeyState.ACTIVE)
    ring.add(generate_key())
    clock.advance(100)
    ring.rotate()  # first retired at T0 + 100
    second = ring.active
    ring.add(generate_key())
    clock.advance(100)
    ring.rotate()  # second retired at T0 + 200
    assert second is not None
    assert ring.prune(retired_before=T0 + 100) == []  # strictly before
    gone = ring.prune(retired_before=T0 + 150)
    assert [m.kid for m in gone] == [first.kid]
    assert second.kid in states(ring)
    assert {m.state for m in ring.prune(retired_before=T0 + 10_000)} == {KeyState.RETIRED}
    assert set(states(ring).values()) == {KeyState.ACTIVE}


def test_prune_never_touches_next_or_active_keys(ring: KeyRing) -> None:
    ring.add(generate_key(), state=KeyState.ACTIVE)
    ring.add(generate_key())
    assert ring.prune(retired_before=T0 + 10**9) == []
    assert len(ring) == 2


@pytest.fixture
def full_ring(ring: KeyRing, clock: FrozenClock) -> KeyRing:
    """A retired ES256 key, an active EdDSA key, a next ES256 key and an HS256 next key."""
    ring.add(generate_key("ES256"), state=KeyState.ACTIVE)
    clock.advance(1)
    ring.add(generate_key("EdDSA"))
    clock.advance(1)
    ring.rotate()
    ring.add(generate_key("ES256"))
    ring.add(generate_key("HS256"))
    return ring


def test_jwks_holds_next_active_and_retired_keys(full_ring: KeyRing) -> None:
    published = full_ring.jwks()["keys"]
    asymmetric = {m.kid: m.state for m in full_ring if not m.key.is_symmetric}
    assert published[0]["kid"] == full_ring.signing_key.kid  # active first
    assert {k["kid"] for k in published} == set(asymmetric)
    assert set(asymmetric.values()) == set(KeyState)


def test_jwks_members_and_no_private_material(full_ring: KeyRing) -> None:
    for jwk in full_ring.jwks()["keys"]:
        assert {"kid", "kty", "alg"} <= jwk.keys()
        assert jwk["use"] == "sig"
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk["kty"] != "oct"


def test_get_returns_public_halves(full_ring: KeyRing) -> None:
    message = b"header.payload"
    for managed in full_ring:
        found = full_ring.get(managed.kid)
        assert found is not None
        assert found.kid == managed.kid
        if managed.key.is_symmetric:
            continue  # a shared secret is its own verification key
        assert not found.is_private
        assert found.verify_signature(message, managed.key.sign(message))


def test_get_unknown_or_missing_kid(full_ring: KeyRing) -> None:
    assert full_ring.get("no-such-kid") is None
    assert full_ring.get(None) is None  # Ostiary always names its key


def test_a_ring_is_rebuilt_from_managed_keys(full_ring: KeyRing) -> None:
    rebuilt = KeyRing(list(full_ring))
    assert states(rebuilt) == states(full_ring)
    assert rebuilt.jwks() == full_ring.jwks()


def test_managed_key_kid_is_its_keys(ring: KeyRing) -> None:
    key: JWK = generate_key()
    assert ring.add(key).kid == key.kid
