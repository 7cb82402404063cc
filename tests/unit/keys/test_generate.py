"""``generate_key``: one fresh private key per call, bound to its algorithm, of a safe size."""

from __future__ import annotations

import base64

import pytest

from ostiary.errors import InvalidKey
from ostiary.jose import JWK, PRIVATE_MEMBERS
from ostiary.keys import DEFAULT_RSA_BITS, GENERATED_ALGORITHMS, MIN_RSA_BITS, generate_key

EXPECTED_KTY = {
    "ES256": "EC",
    "EdDSA": "OKP",
    "RS256": "RSA",
    "PS256": "RSA",
    "HS256": "oct",
    "HS384": "oct",
    "HS512": "oct",
}
HMAC_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


@pytest.fixture(scope="module")
def keys() -> dict[str, JWK]:
    """One key per algorithm, RSA at the minimum size to keep the module fast."""
    return {alg: generate_key(alg, rsa_bits=MIN_RSA_BITS) for alg in GENERATED_ALGORITHMS}


def rsa_bits(key: JWK) -> int:
    n = key.public_dict()["n"]
    return int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))).bit_length()


def test_the_list_of_algorithms() -> None:
    assert set(GENERATED_ALGORITHMS) == set(EXPECTED_KTY)
    assert GENERATED_ALGORITHMS[0] == "ES256"


@pytest.mark.parametrize("alg", GENERATED_ALGORITHMS)
def test_a_private_key_bound_to_its_algorithm(keys: dict[str, JWK], alg: str) -> None:
    key = keys[alg]
    assert key.alg == alg
    assert key.kty == EXPECTED_KTY[alg]
    assert key.is_private
    assert key.kid == key.thumbprint()


@pytest.mark.parametrize("alg", GENERATED_ALGORITHMS)
def test_signs_and_verifies(keys: dict[str, JWK], alg: str) -> None:
    key = keys[alg]
    signature = key.sign(b"header.payload")
    assert key.public().verify_signature(b"header.payload", signature)
    assert not key.public().verify_signature(b"header.payloaD", signature)


@pytest.mark.parametrize("alg", [a for a in GENERATED_ALGORITHMS if EXPECTED_KTY[a] != "oct"])
def test_public_form_has_no_private_member(keys: dict[str, JWK], alg: str) -> None:
    public = keys[alg].public_dict()
    assert not PRIVATE_MEMBERS & public.keys()
    assert (public["alg"], public["use"], public["kid"]) == (alg, "sig", keys[alg].kid)


@pytest.mark.parametrize(("alg", "size"), HMAC_BYTES.items())
def test_hmac_secret_is_as_long_as_the_hash(keys: dict[str, JWK], alg: str, size: int) -> None:
    k = keys[alg].private_dict()["k"]
    assert len(base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))) == size
    with pytest.raises(InvalidKey):
        keys[alg].public_dict()  # a shared secret has no public form


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "HS256"])
def test_every_call_makes_a_new_key(keys: dict[str, JWK], alg: str) -> None:
    assert generate_key(alg).kid != keys[alg].kid


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_rsa_minimum_is_2048_bits(keys: dict[str, JWK], alg: str) -> None:
    assert MIN_RSA_BITS == 2048
    assert rsa_bits(keys[alg]) == 2048
    with pytest.raises(InvalidKey, match="2048"):
        generate_key(alg, rsa_bits=2047)


def test_rsa_default_is_3072_bits() -> None:
    assert DEFAULT_RSA_BITS == 3072
    assert rsa_bits(generate_key("RS256")) == 3072


@pytest.mark.parametrize("alg", ["none", "None", "ES384", "RS512", "HS1", "", "es256"])
def test_other_algorithms_are_refused(alg: str) -> None:
    with pytest.raises(InvalidKey):
        generate_key(alg)


def test_default_algorithm_is_es256() -> None:
    assert generate_key().alg == "ES256"
