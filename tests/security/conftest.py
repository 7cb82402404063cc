"""Keys shared by the attack tests, generated once per session (RSA generation is slow), and
what the DPoP attacks on the toolkit share: each runs through every integration (``kind``: the
ASGI middleware and Flask) against a verifier of the ``es256_key``'s tokens on a frozen clock."""

from __future__ import annotations

import pytest

from ostiary.clock import FrozenClock
from ostiary.jose import JWK, JWKSet
from ostiary.resource import TokenVerifier
from tests.unit.resource._dpop import KINDS, Kind, verifier_for
from tests.unit.resource._tokens import T0


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


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    """The integration a toolkit attack goes through."""
    chosen: Kind = request.param
    return chosen


@pytest.fixture
def verifier(es256_key: JWK) -> TokenVerifier:
    """A toolkit verifier of the ``es256_key``'s tokens, its clock frozen at ``T0``."""
    return verifier_for(es256_key, FrozenClock(T0))
