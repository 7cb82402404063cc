"""Keys shared by the attack tests, generated once per session (RSA generation is slow)."""

from __future__ import annotations

import pytest

from ostiary.jose import JWK, JWKSet


@pytest.fixture(scope="session")
def es256_key() -> JWK:
    return JWK.generate("ES256")


@pytest.fixture(scope="session")
def rs256_key() -> JWK:
    return JWK.generate("RS256", rsa_bits=2048)


@pytest.fixture(scope="session")
def eddsa_key() -> JWK:
    return JWK.generate("EdDSA")


@pytest.fixture(scope="session")
def hs256_key() -> JWK:
    return JWK.generate("HS256")


@pytest.fixture(scope="session")
def attacker_key() -> JWK:
    """A well-formed ES256 key the verifier has never seen."""
    return JWK.generate("ES256")


@pytest.fixture(scope="session")
def es256_keys(es256_key: JWK) -> JWKSet:
    """What a resource server holds: the issuer's public key only."""
    return JWKSet([es256_key.public()])


@pytest.fixture(scope="session")
def rs256_keys(rs256_key: JWK) -> JWKSet:
    return JWKSet([rs256_key.public()])
