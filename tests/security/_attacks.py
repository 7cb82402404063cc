"""Helpers for the attack tests: refuse-fast assertions on top of the token builders.

Every attack goes through what a resource server runs, :meth:`TokenVerifier.verify_sync`
with keys given up front (the same :class:`~ostiary.jose.JWTVerifier` pipeline the server,
introspection and the JWKS-fetching path use), never through a helper production does not
call. Each test asserts the exact :class:`~ostiary.errors.InvalidToken` subclass, its
``reason``, and that the refusal took well under a second (a guard against pathological
slowness such as decompression bombs, PBES2 iteration counts or quadratic parsing).
"""

from __future__ import annotations

import time
from typing import Any, Final

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import InvalidToken
from ostiary.jose import ClaimRules, JWKSet
from ostiary.resource import TokenVerifier
from tests.unit.jose._helpers import NOW, clock, rules

#: Upper bound for any refusal; generous on purpose, it only catches pathological slowness.
FAIL_FAST_SECONDS: Final = 1.0


def verifier(
    keys: JWKSet, *, claim_rules: ClaimRules | None = None, at: FrozenClock | None = None
) -> TokenVerifier:
    """A resource server's verifier of ``claim_rules`` (default :func:`rules`), which must be
    access-token rules: a TokenVerifier is configured by issuer, audiences and leeway only."""
    wanted = claim_rules or rules()
    built = TokenVerifier(
        issuer=wanted.issuer,
        audience=wanted.audiences,
        keys=keys,
        leeway=wanted.leeway,
        clock=at or clock(NOW),
    )
    assert built.rules == wanted, "the rules are not access-token rules"
    return built


def assert_refused(
    token: str | bytes,
    keys: JWKSet,
    error: type[InvalidToken],
    *,
    reason: str | None = None,
    claim_rules: ClaimRules | None = None,
    at: FrozenClock | None = None,
) -> InvalidToken:
    """``TokenVerifier.verify_sync`` raises exactly ``error`` (not a subclass) with ``reason``
    (default: the class's own), and does so in under :data:`FAIL_FAST_SECONDS`."""
    check = verifier(keys, claim_rules=claim_rules, at=at)
    start = time.perf_counter()
    with pytest.raises(InvalidToken) as info:
        check.verify_sync(token)
    elapsed = time.perf_counter() - start
    assert type(info.value) is error, f"expected {error.__name__}, got {info.value!r}"
    assert info.value.reason == (reason or error.reason)
    assert elapsed < FAIL_FAST_SECONDS, f"refusal took {elapsed:.3f} s"
    return info.value


def assert_accepted(
    token: str | bytes,
    keys: JWKSet,
    *,
    claim_rules: ClaimRules | None = None,
    at: FrozenClock | None = None,
) -> dict[str, Any]:
    """The control case: the same construction without the attack verifies."""
    return dict(verifier(keys, claim_rules=claim_rules, at=at).verify_sync(token).raw)
