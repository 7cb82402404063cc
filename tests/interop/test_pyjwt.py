"""Interoperability with PyJWT, whose JOSE code shares nothing with Ostiary's (joserfc).

PyJWT decodes what Ostiary signs, with the key read from Ostiary's JWK (``jwt.PyJWK``) or
fetched from Ostiary's JWKS over HTTP (``jwt.PyJWKClient``); Ostiary verifies what PyJWT
signs with keys made by ``cryptography`` and exported to JWK by PyJWT.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ostiary.jose import JWK, sign_compact
from ostiary.keys import KeyRing, KeyState
from ostiary.resource import TokenVerifier
from tests.interop.support import (
    ALGORITHMS,
    ASYMMETRIC,
    AUDIENCE,
    ISSUER,
    SYMMETRIC,
    JWKSServer,
    access_claims,
    generate,
    secret_of,
)

pytestmark = pytest.mark.interop

REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti"]
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def pyjwk_of(key: JWK) -> jwt.PyJWK:
    """PyJWT's reading of an Ostiary key: the public JWK, or the secret for HMAC."""
    return jwt.PyJWK(key.private_dict() if key.is_symmetric else key.public_dict())


def pyjwt_decode(token: str, key: Any, alg: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode_complete(
        token,
        key,
        algorithms=[alg],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": REQUIRED},
    )
    return decoded


# --- PyJWT verifies Ostiary's tokens ---------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_decodes_ostiary_token(alg: str) -> None:
    key = generate(alg)
    claims = access_claims(alg)
    token = sign_compact(claims, key, typ="at+jwt")
    pyjwk = pyjwk_of(key)
    assert pyjwk.algorithm_name == alg
    assert pyjwk.key_id == key.kid

    decoded = pyjwt_decode(token, pyjwk.key, alg)

    assert decoded["header"] == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    assert decoded["payload"] == claims


@pytest.fixture(scope="module")
def ostiary_jwks(jwks_server: JWKSServer) -> tuple[dict[str, JWK], str]:
    """Ostiary keys for every asymmetric algorithm, one active and the others next, and the URL
    of their JWKS document."""
    keys = {alg: generate(alg) for alg in ASYMMETRIC}
    ring = KeyRing()
    for alg, key in keys.items():
        ring.add(key, state=KeyState.ACTIVE if alg == ASYMMETRIC[0] else KeyState.NEXT)
    return keys, jwks_server.publish(ring.jwks())


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_pyjwk_client_reads_ostiary_jwks(
    ostiary_jwks: tuple[dict[str, JWK], str], alg: str
) -> None:
    """PyJWT finds the key by ``kid`` in Ostiary's JWKS document, fetched over HTTP."""
    keys, url = ostiary_jwks
    client = jwt.PyJWKClient(url, timeout=10)
    claims = access_claims(alg)
    token = sign_compact(claims, keys[alg], typ="at+jwt")

    signing_key = client.get_signing_key_from_jwt(token)

    assert signing_key.key_id == keys[alg].kid
    assert signing_key.algorithm_name == alg
    assert pyjwt_decode(token, signing_key.key, alg)["payload"] == claims


# --- Ostiary verifies PyJWT's tokens ---------------------------------------------------------


def cryptography_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def published_jwk(private: PrivateKey, alg: str, kid: str) -> dict[str, Any]:
    """The public key as PyJWT writes a JWK, plus what an issuer publishes with it."""
    jwk: dict[str, Any] = jwt.get_algorithm_by_name(alg).to_jwk(private.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_ostiary_verifies_pyjwt_token(alg: str) -> None:
    kid = f"pyjwt-{alg}"
    verifier_key: JWK | dict[str, Any]
    signing_key: PrivateKey | bytes
    if alg in SYMMETRIC:
        shared = generate(alg)
        kid, signing_key, verifier_key = shared.kid, secret_of(shared), shared
    else:
        signing_key = cryptography_key(alg)
        verifier_key = published_jwk(signing_key, alg, kid)
    claims = access_claims(alg)
    token = jwt.encode(claims, signing_key, algorithm=alg, headers={"typ": "at+jwt", "kid": kid})

    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=[verifier_key])
    verified = verifier.verify_sync(token)

    assert dict(verified.raw) == claims
    assert (verified.sub, verified.client_id, verified.jti) == (
        claims["sub"],
        claims["client_id"],
        claims["jti"],
    )
    assert verified.audiences == (AUDIENCE,)
    assert verified.scopes == frozenset({"read:items", "write:items"})
