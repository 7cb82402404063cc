"""Attack: a proof that does not bind the access token it comes with (RFC 9449 §4.3 step 12,
§7). Without ``ath``, a proof captured with one token could travel with another the attacker
holds for the same key (two users' tokens of one client, a rotated token); a resource server
must check ``ath`` is the SHA-256 of the very token presented. Refused
``invalid_dpop_proof`` (``wrong_ath``), before the proof's ``jti`` is remembered."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from ostiary.jose import JWK
from ostiary.jose.dpop import access_token_hash
from ostiary.resource import TokenVerifier
from tests.security._attacks import REFUSAL_TIMEOUT
from tests.unit.jose._helpers import sign_parts
from tests.unit.resource._dpop import (
    ORDERS,
    Kind,
    bound_token,
    dpop_headers,
    proof,
    refusal_reason,
    send_within,
    service,
)
from tests.unit.resource._tokens import T0

HOLDER = JWK.generate("ES256")


def proof_with_ath(ath: Any) -> str:
    """A proof by HOLDER whose ``ath`` is ``ath`` as it is (a string or not)."""
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": HOLDER.public_dict()}
    claims = {"jti": f"ath-{ath!r}", "htm": "GET", "htu": ORDERS, "iat": T0, "ath": ath}
    return sign_parts(header, claims, HOLDER)


def wrong_proofs(token: str, other: str) -> dict[str, str]:
    return {
        "no-ath": proof(HOLDER),
        "ath-of-another-token": proof(HOLDER, token=other),
        "ath-of-the-token-with-its-scheme": proof_with_ath(access_token_hash(f"DPoP {token}")),
        "ath-unencoded-hex": proof_with_ath(hashlib.sha256(token.encode()).hexdigest()),
        "ath-with-padding": proof_with_ath(access_token_hash(token) + "="),
        "ath-not-a-string": proof_with_ath(["x"]),
        "ath-null": proof_with_ath(None),
    }


@pytest.mark.parametrize(
    "case",
    [
        "no-ath",
        "ath-of-another-token",
        "ath-of-the-token-with-its-scheme",
        "ath-unencoded-hex",
        "ath-with-padding",
        "ath-not-a-string",
        "ath-null",
    ],
)
async def test_a_proof_not_bound_to_the_token_is_refused(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, case: str
) -> None:
    token = bound_token(es256_key, HOLDER, sub="alice")
    other = bound_token(es256_key, HOLDER, sub="bob")  # same client, same key, another user
    wrong = wrong_proofs(token, other)[case]
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, wrong), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [wrong]) == "wrong_ath"


async def test_the_control_with_its_ath_passes(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK
) -> None:
    token = bound_token(es256_key, HOLDER)
    answer = await service(kind, verifier).request(
        "GET", "/orders", dpop_headers(token, proof_with_ath(access_token_hash(token)))
    )
    assert answer.status == 200
