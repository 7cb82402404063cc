"""Attack: proofs that prove nothing (RFC 9449 §4.3 step 5, §11.6): ``alg: none`` in any
spelling, an HMAC proof whose "key" travels in its own header, an HMAC proof keyed with the
holder's public key (the algorithm confusion of CVE-2022-29217, aimed at DPoP), an algorithm
that does not fit the embedded key, and one off the resource's allow-list. Refused
``invalid_dpop_proof`` (``disallowed_algorithm`` and its kin) before any signature is
checked against a key the attacker chose."""

from __future__ import annotations

import json

import pytest

from ostiary.clock import FrozenClock
from ostiary.dpop import DPoPChecker, MemoryReplayCache, ProofRules
from ostiary.jose import JWK
from ostiary.jose.dpop import access_token_hash, make_proof
from ostiary.resource import TokenVerifier
from tests.security._attacks import REFUSAL_TIMEOUT
from tests.unit.jose._helpers import b64url, hmac_token, sign_parts, unsigned_token
from tests.unit.resource._dpop import (
    ORDERS,
    Kind,
    bound_token,
    dpop_headers,
    refusal_reason,
    send_within,
    service,
    verifier_for,
)
from tests.unit.resource._tokens import T0

HOLDER = JWK.generate("ES256")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def verifier(es256_key: JWK, clock: FrozenClock) -> TokenVerifier:
    return verifier_for(es256_key, clock)


def claims_for(token: str, jti: str) -> dict[str, object]:
    return {"jti": jti, "htm": "GET", "htu": ORDERS, "iat": T0, "ath": access_token_hash(token)}


async def refused(
    kind: Kind, verifier: TokenVerifier, token: str, sent: str, reasons: set[str]
) -> None:
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, sent), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [sent]) in reasons


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
@pytest.mark.parametrize("signature", ["", "c2lnbmF0dXJl"])
async def test_alg_none(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, alg: str, signature: str
) -> None:
    token = bound_token(es256_key, HOLDER)
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": HOLDER.public_dict()}
    sent = unsigned_token(header, claims_for(token, f"none-{alg}"), signature)
    await refused(kind, verifier, token, sent, {"disallowed_algorithm", "malformed"})


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_with_its_secret_in_the_header(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, alg: str
) -> None:
    secret = b"attacker's own secret, long enough for any HMAC at all!!" * 2
    jkt = JWK.from_secret(secret, alg=alg).thumbprint()
    token = bound_token(es256_key, jkt)  # even a token bound to that "key"
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": {"kty": "oct", "k": b64url(secret)}}
    sent = hmac_token(header, claims_for(token, f"hmac-{alg}"), secret)
    await refused(kind, verifier, token, sent, {"disallowed_algorithm"})


async def test_hmac_keyed_with_the_public_key(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK
) -> None:
    """CVE-2022-29217's confusion: the holder's public key, which anyone may know, as an
    HMAC secret."""
    token = bound_token(es256_key, HOLDER)
    public = HOLDER.public_dict()
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": public}
    for secret in (json.dumps(public).encode(), public["x"].encode()):
        sent = hmac_token(header, claims_for(token, "confused"), secret)
        await refused(kind, verifier, token, sent, {"disallowed_algorithm"})


@pytest.mark.parametrize(
    ("declared", "signer"),
    [("RS256", "ES256"), ("ES384", "ES256"), ("EdDSA", "ES256"), ("ES256", "EdDSA")],
)
async def test_an_algorithm_that_does_not_fit_the_key(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, declared: str, signer: str
) -> None:
    key = JWK.generate(signer)
    token = bound_token(es256_key, key)
    header = {"typ": "dpop+jwt", "alg": declared, "jwk": key.public_dict() | {"alg": signer}}
    sent = sign_parts(header, claims_for(token, f"{declared}-{signer}"), key)
    await refused(
        kind, verifier, token, sent, {"algorithm_mismatch", "invalid_key", "bad_signature"}
    )


async def test_an_algorithm_off_the_allow_list(
    kind: Kind, es256_key: JWK, clock: FrozenClock
) -> None:
    """ES512 is a good algorithm, but not one this resource takes: its challenge says which
    it does (``algs``)."""
    rules = ProofRules(algorithms=("ES256",))
    verifier = verifier_for(
        es256_key, clock, dpop=DPoPChecker(MemoryReplayCache(), rules=rules, clock=clock)
    )
    key = JWK.generate("ES384")
    token = bound_token(es256_key, key)
    sent = make_proof(key, method="GET", url=ORDERS, jti="es384", iat=T0, access_token=token)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, sent), timeout=REFUSAL_TIMEOUT
    )
    assert answer.status == 401
    assert answer.dpop_challenge()["algs"] == "ES256"
    assert answer.dpop_challenge()["error"] == "invalid_dpop_proof"
    assert refusal_reason(verifier, token, [sent]) == "disallowed_algorithm"


def test_a_resource_cannot_be_configured_to_take_hmac_or_none() -> None:
    for algorithms in (("HS256",), ("none",), ("ES256", "HS512")):
        with pytest.raises(ValueError):
            ProofRules(algorithms=algorithms)
