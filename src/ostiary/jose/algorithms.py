"""The JWS algorithms Ostiary signs and verifies with, and the key each one needs.

RFC 8725 §3.1-3.2: a verifier uses an allow-list of algorithms, each bound to a key of the
right type and size. ``none`` is never on the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class AlgorithmSpec:
    name: str
    kty: str
    #: Curves allowed for EC and OKP keys.
    curves: tuple[str, ...] = ()
    #: Smallest RSA modulus in bits, or smallest HMAC secret in bytes (RFC 7518 §3.2).
    min_size: int = 0


ALGORITHMS: Final[dict[str, AlgorithmSpec]] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec("ES256", "EC", curves=("P-256",)),
        AlgorithmSpec("ES384", "EC", curves=("P-384",)),
        AlgorithmSpec("EdDSA", "OKP", curves=("Ed25519", "Ed448")),
        # RFC 9864 §2.2: the fully-specified name of EdDSA with Ed25519, which oauth4webapi
        # and oidc-provider use for DPoP proofs.
        AlgorithmSpec("Ed25519", "OKP", curves=("Ed25519",)),
        AlgorithmSpec("RS256", "RSA", min_size=2048),
        AlgorithmSpec("RS384", "RSA", min_size=2048),
        AlgorithmSpec("RS512", "RSA", min_size=2048),
        AlgorithmSpec("PS256", "RSA", min_size=2048),
        AlgorithmSpec("PS384", "RSA", min_size=2048),
        AlgorithmSpec("PS512", "RSA", min_size=2048),
        AlgorithmSpec("HS256", "oct", min_size=32),
        AlgorithmSpec("HS384", "oct", min_size=48),
        AlgorithmSpec("HS512", "oct", min_size=64),
    )
}

DEFAULT_ALGORITHM: Final = "ES256"
DEFAULT_RSA_BITS: Final = 3072
MIN_RSA_BITS: Final = 2048


def spec_for(alg: str) -> AlgorithmSpec:
    """The spec of an allowed algorithm; ``KeyError`` for anything else, ``none`` included."""
    return ALGORITHMS[alg]
