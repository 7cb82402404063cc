"""Helpers for the attack tests: refuse-fast assertions on top of the token builders.

Every attack test asserts the exact :class:`~ostiary.errors.InvalidToken` subclass, its
``reason``, and that the refusal took well under a second (a guard against pathological
slowness such as decompression bombs, PBES2 iteration counts or quadratic parsing).
"""

from __future__ import annotations

import time
from typing import Any, Final

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import InvalidToken
from ostiary.jose import ClaimRules, KeyLookup, verify_access_token
from tests.unit.jose._helpers import NOW, clock, rules

#: Upper bound for any refusal; generous on purpose, it only catches pathological slowness.
FAIL_FAST_SECONDS: Final = 1.0


def assert_refused(
    token: str | bytes,
    keys: KeyLookup,
    error: type[InvalidToken],
    *,
    reason: str | None = None,
    claim_rules: ClaimRules | None = None,
    at: FrozenClock | None = None,
) -> InvalidToken:
    """``verify_access_token`` raises exactly ``error`` (not a subclass) with ``reason``
    (default: the class's own), and does so in under :data:`FAIL_FAST_SECONDS`."""
    start = time.perf_counter()
    with pytest.raises(InvalidToken) as info:
        verify_access_token(token, keys, claim_rules or rules(), clock=at or clock(NOW))
    elapsed = time.perf_counter() - start
    assert type(info.value) is error, f"expected {error.__name__}, got {info.value!r}"
    assert info.value.reason == (reason or error.reason)
    assert elapsed < FAIL_FAST_SECONDS, f"refusal took {elapsed:.3f} s"
    return info.value


def assert_accepted(
    token: str | bytes,
    keys: KeyLookup,
    *,
    claim_rules: ClaimRules | None = None,
    at: FrozenClock | None = None,
) -> dict[str, Any]:
    """The control case: the same construction without the attack verifies."""
    return verify_access_token(token, keys, claim_rules or rules(), clock=at or clock(NOW))
