"""Properties of PKCE S256 (RFC 7636 §4): a well-formed verifier verifies against its own
challenge only, and nothing raises on arbitrary input."""

from __future__ import annotations

from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.grants.pkce import is_challenge, s256, verifies

PROPS: Final = settings(max_examples=150, derandomize=True, database=None, deadline=None)
UNRESERVED: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
VERIFIERS: Final = st.text(alphabet=UNRESERVED, min_size=43, max_size=128)


@PROPS
@given(VERIFIERS)
def test_a_verifier_verifies_its_own_challenge(verifier: str) -> None:
    challenge = s256(verifier)
    assert is_challenge(challenge)
    assert verifies(verifier, challenge)


@PROPS
@given(VERIFIERS, VERIFIERS)
def test_a_verifier_does_not_verify_another_challenge(verifier: str, other: str) -> None:
    if verifier != other:
        assert not verifies(other, s256(verifier))


@PROPS
@given(st.text(max_size=200), st.text(max_size=60))
def test_arbitrary_input_never_raises(verifier: str, challenge: str) -> None:
    assert isinstance(verifies(verifier, challenge), bool)
    assert isinstance(is_challenge(challenge), bool)


@PROPS
@given(st.text(alphabet=UNRESERVED, max_size=42) | st.text(alphabet=UNRESERVED, min_size=129))
def test_a_verifier_of_the_wrong_length_never_verifies(verifier: str) -> None:
    assert not verifies(verifier, s256(verifier))
