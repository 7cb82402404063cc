"""One key per algorithm, generated once per session (RSA generation is slow)."""

from __future__ import annotations

import pytest

from ostiary.jose import JWK

#: Every algorithm Ostiary generates keys for (ES384 is only imported, but cheap to test too).
GENERATED = ("ES256", "ES384", "EdDSA", "RS256", "PS256", "HS256", "HS384", "HS512")


@pytest.fixture(scope="session")
def keys_by_alg() -> dict[str, JWK]:
    return {alg: JWK.generate(alg, rsa_bits=2048) for alg in GENERATED}


@pytest.fixture(scope="session")
def es256_key(keys_by_alg: dict[str, JWK]) -> JWK:
    return keys_by_alg["ES256"]
