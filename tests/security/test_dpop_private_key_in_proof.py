"""Attack (or blunder): a proof whose ``jwk`` header carries the private key (RFC 9449 §4.3
step 7: "the jwk JOSE Header Parameter does not contain a private key"). Anyone who sees the
proof could then sign proofs of their own for the bound token. Refused
``invalid_dpop_proof`` (``private_key``) for every key type, before the key is imported."""

from __future__ import annotations

import pytest

from ostiary.jose import JWK
from ostiary.jose.dpop import access_token_hash
from ostiary.resource import TokenVerifier
from tests.security._attacks import REFUSAL_TIMEOUT
from tests.unit.jose._helpers import b64url, sign_parts
from tests.unit.resource._dpop import (
    ORDERS,
    Kind,
    bound_token,
    dpop_headers,
    refusal_reason,
    send_within,
    service,
)
from tests.unit.resource._tokens import T0


def proof_carrying(key: JWK, jwk: dict[str, object], token: str) -> str:
    header = {"typ": "dpop+jwt", "alg": key.alg, "jwk": jwk}
    claims = {"jti": "leaky", "htm": "GET", "htu": ORDERS, "iat": T0}
    return sign_parts(header, {**claims, "ath": access_token_hash(token)}, key)


@pytest.mark.parametrize(
    ("alg", "member"),
    [
        ("ES256", "d"),
        ("EdDSA", "d"),
        ("PS256", "d"),
        ("PS256", "p"),
        ("PS256", "qi"),
    ],
)
async def test_a_private_member_is_refused(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, rs256_key: JWK, alg: str, member: str
) -> None:
    key = (
        JWK.from_dict({**rs256_key.private_dict(), "alg": alg})
        if alg == "PS256"
        else JWK.generate(alg)
    )
    token = bound_token(es256_key, key)
    private = key.private_dict()
    leaky = {**key.public_dict(), member: private.get(member, b64url(b"\x01" * 32))}
    sent = proof_carrying(key, leaky, token)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, sent), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [sent]) == "private_key"


async def test_the_whole_private_jwk(kind: Kind, verifier: TokenVerifier, es256_key: JWK) -> None:
    key = JWK.generate("ES256")
    token = bound_token(es256_key, key)
    sent = proof_carrying(key, key.private_dict(), token)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, sent), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [sent]) == "private_key"


async def test_a_symmetric_key(kind: Kind, verifier: TokenVerifier, es256_key: JWK) -> None:
    """An ``oct`` key's ``k`` is its secret: never a proof's key."""
    key = JWK.generate("ES256")
    token = bound_token(es256_key, key)
    sent = proof_carrying(key, {"kty": "oct", "k": b64url(b"s" * 32)}, token)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, sent), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [sent]) == "private_key"
