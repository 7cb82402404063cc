"""Attack: the token carries its own verification key (CVE-2018-0114 in node-jose: an embedded
``jwk`` header was trusted). The attacker signs with a fresh key and puts its public half in
``jwk`` (or a certificate chain in ``x5c``); RFC 8725 §3.10 says never take the key from the
token. Refused as ``ForbiddenHeader`` before any key is looked up."""

from __future__ import annotations

import pytest

from ostiary.errors import ForbiddenHeader, UnknownKey
from ostiary.jose import JWK, JWKSet
from tests.security._attacks import assert_refused
from tests.unit.jose._helpers import access_claims, at_header, b64url, sign_parts


@pytest.mark.parametrize("kid_choice", ["attacker", "trusted", "absent"])
def test_embedded_jwk_is_refused(
    kid_choice: str, es256_key: JWK, attacker_key: JWK, es256_keys: JWKSet
) -> None:
    kid = {"attacker": attacker_key.kid, "trusted": es256_key.kid, "absent": ...}[kid_choice]
    header = at_header(attacker_key, kid=kid, jwk=attacker_key.public_dict())
    token = sign_parts(header, access_claims(), attacker_key)
    assert_refused(token, es256_keys, ForbiddenHeader)


def test_embedded_eddsa_jwk_is_refused(eddsa_key: JWK, es256_keys: JWKSet) -> None:
    header = at_header(eddsa_key, jwk=eddsa_key.public_dict())
    assert_refused(sign_parts(header, access_claims(), eddsa_key), es256_keys, ForbiddenHeader)


def test_embedded_x5c_chain_is_refused(attacker_key: JWK, es256_keys: JWKSet) -> None:
    header = at_header(attacker_key, x5c=[b64url(b"0\x82\x01\x00 not really DER")])
    assert_refused(sign_parts(header, access_claims(), attacker_key), es256_keys, ForbiddenHeader)


def test_embedded_jwk_even_when_it_is_the_trusted_key(es256_key: JWK, es256_keys: JWKSet) -> None:
    # Refused on sight, not by comparing keys: the header is never a source of keys.
    header = at_header(es256_key, jwk=es256_key.public_dict())
    assert_refused(sign_parts(header, access_claims(), es256_key), es256_keys, ForbiddenHeader)


def test_control_without_the_header_the_attacker_key_is_unknown(
    attacker_key: JWK, es256_keys: JWKSet
) -> None:
    token = sign_parts(at_header(attacker_key), access_claims(), attacker_key)
    assert_refused(token, es256_keys, UnknownKey)
