"""Attack: proofs built to cost the resource server (RFC 9449 §11.1: "reject DPoP proof JWTs
with unnecessarily large jti values"): a proof of a megabyte, one just over the size cap, a
``jti`` of thousands of characters, a header nested thousands deep, a thousand ``DPoP``
headers, and an access token of a megabyte under the ``DPoP`` scheme. Each refused from its
size or shape, before anything is decoded or remembered, within the refusal timeout."""

from __future__ import annotations

import pytest

from ostiary.dpop import MemoryReplayCache
from ostiary.jose import JWK
from ostiary.jose.dpop import DEFAULT_MAX_PROOF_SIZE, MAX_JTI_LENGTH, access_token_hash
from ostiary.resource import TokenVerifier
from tests.security._attacks import REFUSAL_TIMEOUT
from tests.unit.jose._helpers import b64url, sign_parts, sign_raw
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


def padded_proof(token: str, padding: int) -> str:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": HOLDER.public_dict()}
    claims = {"jti": "padded", "htm": "GET", "htu": ORDERS, "iat": T0}
    claims |= {"ath": access_token_hash(token), "pad": "x" * padding}
    return sign_parts(header, claims, HOLDER)


async def refused_as(kind: Kind, verifier: TokenVerifier, token: str, sent: list[str]) -> str:
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, *sent), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    replay = verifier.dpop.replay
    assert isinstance(replay, MemoryReplayCache) and len(replay) == 0
    return refusal_reason(verifier, token, sent)


@pytest.mark.parametrize("padding", [1_000_000, 4_000])
async def test_a_proof_over_the_size_cap(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, padding: int
) -> None:
    token = bound_token(es256_key, HOLDER)
    sent = padded_proof(token, padding)
    assert len(sent) > DEFAULT_MAX_PROOF_SIZE
    assert await refused_as(kind, verifier, token, [sent]) == "too_large"


async def test_just_under_the_cap_passes(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK
) -> None:
    """The control: the cap leaves room for any honest proof, padding and all."""
    token = bound_token(es256_key, HOLDER)
    sent = padded_proof(token, 2_000)
    assert len(sent) < DEFAULT_MAX_PROOF_SIZE
    assert (
        await service(kind, verifier).request("GET", "/orders", dpop_headers(token, sent))
    ).status == 200


async def test_a_long_jti(kind: Kind, verifier: TokenVerifier, es256_key: JWK) -> None:
    token = bound_token(es256_key, HOLDER)
    sent = proof(HOLDER, token=token, jti="j" * (MAX_JTI_LENGTH + 1))
    assert len(sent) < DEFAULT_MAX_PROOF_SIZE
    assert await refused_as(kind, verifier, token, [sent]) == "invalid_claim"


async def test_a_deeply_nested_header(kind: Kind, verifier: TokenVerifier, es256_key: JWK) -> None:
    token = bound_token(es256_key, HOLDER)
    header = '{"typ":"dpop+jwt","alg":"ES256","x":' + "[" * 1200 + "]" * 1200 + "}"
    sent = sign_raw(header, '{"jti":"deep"}', HOLDER)
    assert len(sent) < DEFAULT_MAX_PROOF_SIZE
    assert await refused_as(kind, verifier, token, [sent]) == "malformed"


async def test_a_thousand_proofs(kind: Kind, verifier: TokenVerifier, es256_key: JWK) -> None:
    token = bound_token(es256_key, HOLDER)
    sent = [proof(HOLDER, token=token) for _ in range(1000)]
    assert await refused_as(kind, verifier, token, sent) == "several"


async def test_a_huge_token_under_the_dpop_scheme(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK
) -> None:
    huge = b64url(b"\x00" * 1_000_000)
    answer = await send_within(
        service(kind, verifier),
        dpop_headers(huge, proof(HOLDER, token=huge)),
        timeout=REFUSAL_TIMEOUT,
    )
    answer.refused_with(401, "invalid_token")
    assert refusal_reason(verifier, huge, [proof(HOLDER, token=huge)]) == "too_large"
