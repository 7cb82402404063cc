"""PKCE S256 (RFC 7636): the Appendix B vector, and what a verifier or challenge may look like."""

from __future__ import annotations

import base64
import hashlib

import pytest

from ostiary.grants import pkce
from tests.unit.grants._server import CHALLENGE, VERIFIER


def test_the_rfc_7636_appendix_b_vector() -> None:
    assert VERIFIER == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.s256(VERIFIER) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" == CHALLENGE
    assert pkce.verifies(VERIFIER, CHALLENGE)
    assert pkce.is_challenge(CHALLENGE)


def test_s256_is_the_unpadded_base64url_sha256_of_the_ascii_verifier() -> None:
    verifier = "A" * 43 + "-._~" + "z" * 81  # 128 characters, every unreserved punctuation
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert pkce.s256(verifier) == expected
    assert pkce.verifies(verifier, expected)


@pytest.mark.parametrize(
    "verifier",
    [
        VERIFIER[:-1] + "l",  # one character off
        VERIFIER + "A",  # longer
        CHALLENGE,  # the challenge itself (what "plain" would compare)
    ],
)
def test_a_wrong_verifier_does_not_verify(verifier: str) -> None:
    assert not pkce.verifies(verifier, CHALLENGE)


@pytest.mark.parametrize(
    "verifier",
    [
        "",
        "a" * 42,  # too short (RFC 7636 §4.1: 43 to 128)
        "a" * 129,  # too long
        "a" * 42 + " ",
        "a" * 42 + "+",
        "a" * 42 + "/",
        "a" * 42 + "=",
        "a" * 42 + "é",
    ],
)
def test_a_malformed_verifier_never_verifies_even_against_its_own_hash(verifier: str) -> None:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert not pkce.verifies(verifier, challenge.decode().rstrip("="))


@pytest.mark.parametrize(
    "challenge",
    [
        "",
        CHALLENGE[:-1],  # 42
        CHALLENGE + "A",  # 44
        CHALLENGE + "=",  # padded
        CHALLENGE[:-1] + "+",  # base64, not base64url
        CHALLENGE[:-1] + "/",
        VERIFIER[:40] + "~.~",  # a plain verifier, not a hash
    ],
)
def test_only_a_43_character_base64url_value_is_a_challenge(challenge: str) -> None:
    assert not pkce.is_challenge(challenge)
