"""Attack: a proof used outside its moment (RFC 9449 §4.3 step 11, §11.1): an old proof dug out
of a log, or one made ahead of time with an ``iat`` in the future so that it stays usable long
after the key is gone (a pre-computed proof, §11.2). A proof is accepted from ``leeway``
seconds before its ``iat`` until ``max_age + leeway`` after; its ``iat`` is an integer
NumericDate. Refused ``invalid_dpop_proof`` (``expired``, ``issued_in_future``,
``invalid_claim``)."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.jose import JWK
from ostiary.jose.dpop import DEFAULT_PROOF_LEEWAY, DEFAULT_PROOF_MAX_AGE, access_token_hash
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
OLDEST = T0 - DEFAULT_PROOF_MAX_AGE - DEFAULT_PROOF_LEEWAY
NEWEST = T0 + DEFAULT_PROOF_LEEWAY


@pytest.mark.parametrize(
    ("iat", "reason"),
    [
        pytest.param(OLDEST - 1, "expired", id="a-second-too-old"),
        pytest.param(T0 - 86_400, "expired", id="a-day-old"),
        pytest.param(0, "expired", id="the-epoch"),
        pytest.param(NEWEST + 1, "issued_in_future", id="a-second-too-early"),
        pytest.param(T0 + 86_400 * 365, "issued_in_future", id="a-year-ahead"),
    ],
)
async def test_outside_the_window(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, iat: int, reason: str
) -> None:
    token = bound_token(es256_key, HOLDER)
    sent = proof(HOLDER, token=token, iat=iat)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, sent), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [sent]) == reason


@pytest.mark.parametrize("iat", [OLDEST, T0, NEWEST], ids=["oldest", "now", "newest"])
async def test_the_edges_of_the_window_pass(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, iat: int
) -> None:
    token = bound_token(es256_key, HOLDER)
    headers = dpop_headers(token, proof(HOLDER, token=token, iat=iat))
    assert (await service(kind, verifier).request("GET", "/orders", headers)).status == 200


@pytest.mark.parametrize(
    "iat",
    [
        pytest.param(float(T0), id="a-float"),
        pytest.param(T0 + 0.5, id="a-fraction"),
        pytest.param(str(T0), id="a-string"),
        pytest.param(True, id="a-boolean"),
        pytest.param(None, id="null"),
        pytest.param(10**30, id="huge"),
        pytest.param(-(10**30), id="huge-negative"),
    ],
)
async def test_an_iat_that_is_not_a_time(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, iat: Any
) -> None:
    token = bound_token(es256_key, HOLDER)
    claims = {"jti": f"iat-{iat!r}", "htm": "GET", "htu": ORDERS, "iat": iat}
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": HOLDER.public_dict()}
    sent = sign_parts(header, {**claims, "ath": access_token_hash(token)}, HOLDER)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, sent), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [sent]) in {
        "invalid_claim",
        "expired",
        "issued_in_future",
    }


async def test_no_iat(kind: Kind, verifier: TokenVerifier, es256_key: JWK) -> None:
    token = bound_token(es256_key, HOLDER)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": HOLDER.public_dict()}
    claims = {"jti": "no-iat", "htm": "GET", "htu": ORDERS, "ath": access_token_hash(token)}
    sent = sign_parts(header, claims, HOLDER)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, sent), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [sent]) == "invalid_claim"
