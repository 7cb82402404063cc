"""Helpers for the attack tests: refuse-fast assertions on top of the token builders.

Every attack goes through what a resource server runs, :meth:`TokenVerifier.verify_sync`
with keys given up front (the same :class:`~ostiary.jose.JWTVerifier` pipeline the server,
introspection and the JWKS-fetching path use), never through a helper production does not
call. Each test asserts the exact :class:`~ostiary.errors.InvalidToken` subclass and its
``reason``, and waits for the refusal no longer than :data:`REFUSAL_TIMEOUT`: a guard against
a hang (a decompression bomb, a PBES2 iteration count, a parser gone quadratic), never a
measure of speed, which belongs to ``make bench``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import InvalidToken
from ostiary.jose import ClaimRules, JWKSet
from ostiary.resource import TokenVerifier
from tests.unit.jose._helpers import NOW, clock, rules

T = TypeVar("T")

#: How long a test waits for an answer before calling it a hang; generous on purpose, so that a
#: loaded machine never fails a test that would pass on an idle one.
REFUSAL_TIMEOUT: Final = 60.0


def within_timeout(work: Callable[[], T], *, timeout: float = REFUSAL_TIMEOUT) -> T:
    """``work()``'s result or exception, from a daemon thread waited for at most ``timeout``
    seconds; a hang fails the test instead of holding up the suite."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise AssertionError(f"no answer within {timeout} s: a hang")
    if failure:
        raise failure[0]
    return outcome[0]


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
    (default: the class's own), within :data:`REFUSAL_TIMEOUT`."""
    check = verifier(keys, claim_rules=claim_rules, at=at)
    with pytest.raises(InvalidToken) as info:
        within_timeout(lambda: check.verify_sync(token))
    assert type(info.value) is error, f"expected {error.__name__}, got {info.value!r}"
    assert info.value.reason == (reason or error.reason)
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
