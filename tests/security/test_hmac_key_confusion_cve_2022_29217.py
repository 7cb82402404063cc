"""Attack: HMAC/asymmetric key confusion (CVE-2022-29217 in PyJWT, CVE-2024-33663 in
python-jose with OpenSSH ECDSA keys, and CVE-2026-48526 of the same class).

The attacker takes the issuer's *public* key in some text or binary form (PEM with or without
its final newline, PKCS#1, OpenSSH, DER, an X.509 certificate, JWK JSON, or nothing at all),
uses those bytes as an HMAC secret, and sends an HS256 token. A verifier that lets the token's
``alg`` pick the algorithm, and feeds its stored key bytes to HMAC, accepts it. Here the key
fixes the algorithm (``AlgorithmMismatch``), and no such material can even be loaded as an HMAC
secret (``InvalidKey``).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ostiary.errors import AlgorithmMismatch, InvalidKey
from ostiary.jose import JWK, JWKSet
from tests.security._attacks import assert_refused
from tests.unit.jose._helpers import access_claims, at_header, b64url, hmac_token

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
Encoding = serialization.Encoding
Format = serialization.PublicFormat


@pytest.fixture(scope="module")
def victims() -> dict[str, tuple[PrivateKey, JWK]]:
    """Per algorithm, the issuer's private key (cryptography object) and the verifier's public
    JWK loaded the way an operator would: from the PEM text."""
    out: dict[str, tuple[PrivateKey, JWK]] = {}
    for alg, private in (
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ):
        pem = private.public_key().public_bytes(Encoding.PEM, Format.SubjectPublicKeyInfo)
        out[alg] = (private, JWK.from_pem(pem, alg=alg))
    return out


@pytest.fixture(params=["ES256", "RS256"])
def victim(
    request: pytest.FixtureRequest, victims: dict[str, tuple[PrivateKey, JWK]]
) -> tuple[PrivateKey, JWK]:
    return victims[request.param]


def _pem(private: PrivateKey, public: JWK) -> bytes:
    return private.public_key().public_bytes(Encoding.PEM, Format.SubjectPublicKeyInfo)


def _certificate(private: PrivateKey, public: JWK) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.example")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM)


MATERIALS: dict[str, Callable[[PrivateKey, JWK], bytes]] = {
    "pem-with-final-newline": _pem,
    "pem-without-final-newline": lambda k, j: _pem(k, j).rstrip(b"\n"),
    "pem-crlf": lambda k, j: _pem(k, j).replace(b"\n", b"\r\n"),
    "pem-with-leading-text": lambda k, j: b"issuer key:\n" + _pem(k, j),
    "openssh": lambda k, j: k.public_key().public_bytes(Encoding.OpenSSH, Format.OpenSSH),
    "der-spki": lambda k, j: k.public_key().public_bytes(Encoding.DER, Format.SubjectPublicKeyInfo),
    "x509-certificate-pem": _certificate,
    "jwk-json": lambda k, j: json.dumps(j.public_dict()).encode(),
    "jwk-json-compact": lambda k, j: json.dumps(j.public_dict(), separators=(",", ":")).encode(),
    "jwks-json": lambda k, j: json.dumps({"keys": [j.public_dict()]}).encode(),
    "empty": lambda k, j: b"",
}


@pytest.mark.parametrize("material", MATERIALS)
@pytest.mark.parametrize("hs_alg", ["HS256", "HS384", "HS512"])
def test_hs_token_keyed_with_the_public_key_is_refused(
    material: str, hs_alg: str, victim: tuple[PrivateKey, JWK]
) -> None:
    private, public = victim
    secret = MATERIALS[material](private, public)
    token = hmac_token(at_header(public, alg=hs_alg), access_claims(), secret)
    assert_refused(token, JWKSet([public]), AlgorithmMismatch)


@pytest.mark.parametrize("material", ["pem-with-final-newline", "pem-without-final-newline"])
def test_hs_token_without_kid_against_a_set_of_one(
    material: str, victim: tuple[PrivateKey, JWK]
) -> None:
    # A token without kid selects the only key; the key's own alg must still decide.
    private, public = victim
    secret = MATERIALS[material](private, public)
    token = hmac_token(at_header(public, alg="HS256", kid=...), access_claims(), secret)
    assert_refused(token, JWKSet([public]), AlgorithmMismatch)


def test_pkcs1_rsa_public_key_is_refused(victims: dict[str, tuple[PrivateKey, JWK]]) -> None:
    private, public = victims["RS256"]
    assert isinstance(private, rsa.RSAPrivateKey)
    secret = private.public_key().public_bytes(Encoding.PEM, Format.PKCS1)
    assert secret.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    token = hmac_token(at_header(public, alg="HS256"), access_claims(), secret)
    assert_refused(token, JWKSet([public]), AlgorithmMismatch)
    with pytest.raises(InvalidKey):
        JWK.from_secret(secret, alg="HS256")


@pytest.mark.parametrize("material", MATERIALS)
@pytest.mark.parametrize("hs_alg", ["HS256", "HS512"])
def test_public_key_material_never_loads_as_an_hmac_secret(
    material: str, hs_alg: str, victim: tuple[PrivateKey, JWK]
) -> None:
    private, public = victim
    secret = MATERIALS[material](private, public)
    with pytest.raises(InvalidKey):
        JWK.from_secret(secret, alg=hs_alg)
    if secret and secret.isascii():  # the same material handed over as text
        with pytest.raises(InvalidKey):
            JWK.from_secret(secret.decode("ascii"), alg=hs_alg)
    # The same bytes arriving as an oct JWK (for instance in a fetched JWKS).
    document: dict[str, Any] = {"kty": "oct", "k": b64url(secret), "alg": hs_alg}
    with pytest.raises(InvalidKey):
        JWK.from_dict(document)


def test_public_key_cannot_be_bound_to_an_hmac_algorithm(
    victim: tuple[PrivateKey, JWK],
) -> None:
    private, public = victim
    with pytest.raises(InvalidKey):
        JWK.from_pem(_pem(private, public), alg="HS256")
    with pytest.raises(InvalidKey):
        JWK.from_dict({**public.public_dict(), "alg": "HS256"})
