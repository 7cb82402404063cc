"""Signing keys: generation, the next → active → retired lifecycle, JWKS, encryption at rest."""

from __future__ import annotations

from ostiary.errors import InvalidKey
from ostiary.jose import ALGORITHMS, DEFAULT_ALGORITHM, JWK
from ostiary.jose.algorithms import DEFAULT_RSA_BITS, MIN_RSA_BITS
from ostiary.keys.encryption import MasterKey
from ostiary.keys.ring import KeyRing, KeyState, ManagedKey

__all__ = [
    "DEFAULT_ALGORITHM",
    "DEFAULT_RSA_BITS",
    "GENERATED_ALGORITHMS",
    "MIN_RSA_BITS",
    "KeyRing",
    "KeyState",
    "ManagedKey",
    "MasterKey",
    "generate_key",
]

#: The algorithms Ostiary generates keys for; ES256 is the default (small, fast, no padding).
GENERATED_ALGORITHMS = ("ES256", "EdDSA", "RS256", "PS256", "HS256", "HS384", "HS512")


def generate_key(alg: str = DEFAULT_ALGORITHM, *, rsa_bits: int = DEFAULT_RSA_BITS) -> JWK:
    """A new private key for ``alg`` whose ``kid`` is its RFC 7638 thumbprint."""
    if alg not in GENERATED_ALGORITHMS or alg not in ALGORITHMS:
        raise InvalidKey(f"cannot generate keys for {alg!r}; choose one of {GENERATED_ALGORITHMS}")
    return JWK.generate(alg, rsa_bits=rsa_bits)
