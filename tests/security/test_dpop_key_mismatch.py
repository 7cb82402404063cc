"""Attack: a stolen DPoP-bound token presented with a proof the attacker signed with a key of
their own (RFC 9449 §6.1, §7.1): every check of the proof passes, for it is a good proof of
the wrong key. The proof's key must be the one whose thumbprint the token names in
``cnf.jkt``. Refused ``invalid_token`` ("Invalid DPoP key binding.", as §7.1's example), and
the attacker's proofs take no place in the replay cache."""

from __future__ import annotations

import pytest

from ostiary.dpop import MemoryReplayCache
from ostiary.jose import JWK
from ostiary.jose.dpop import access_token_hash
from ostiary.resource import TokenVerifier
from tests.security._attacks import REFUSAL_TIMEOUT
from tests.unit.jose._helpers import sign_parts
from tests.unit.resource._dpop import (
    KEY_BINDING,
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


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256"])
async def test_a_proof_by_another_key_is_refused(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, alg: str
) -> None:
    attacker = JWK.generate(alg)
    token = bound_token(es256_key, HOLDER)
    stolen = proof(attacker, token=token)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, stolen), timeout=REFUSAL_TIMEOUT
    )
    assert answer.refused_with(401, "invalid_token")["error_description"] == KEY_BINDING
    assert refusal_reason(verifier, token, [stolen]) == "dpop_key_mismatch"
    replay = verifier.dpop.replay
    assert isinstance(replay, MemoryReplayCache) and len(replay) == 0


async def test_a_jkt_that_differs_only_in_case(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK
) -> None:
    """base64url is case-sensitive: a thumbprint is compared as it is."""
    jkt = HOLDER.thumbprint()
    token = bound_token(es256_key, jkt.swapcase())
    answer = await send_within(
        service(kind, verifier),
        dpop_headers(token, proof(HOLDER, token=token)),
        timeout=REFUSAL_TIMEOUT,
    )
    answer.refused_with(401, "invalid_token")


async def test_the_holders_key_with_other_members_still_binds(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK
) -> None:
    """The control: RFC 7638 thumbprints only the required members, so the holder's key with
    ``kid`` and ``use`` in its ``jwk`` is the same key."""
    token = bound_token(es256_key, HOLDER)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": HOLDER.public_dict()}  # kid, alg, use
    claims = {"jti": "with-kid", "htm": "GET", "htu": ORDERS, "iat": T0}
    claims["ath"] = access_token_hash(token)
    answer = await service(kind, verifier).request(
        "GET", "/orders", dpop_headers(token, sign_parts(header, claims, HOLDER))
    )
    assert answer.status == 200
