"""``ostiary.tokens.dpop_binding``: the key of a request's DPoP proof, what is bound to a key
wanting a proof by it (RFC 9449 §5, §10), a client registered to send proofs (§5.2), the
``dpop_jkt`` parameter's form (§10) and the token type (§5)."""

from __future__ import annotations

import secrets

import pytest

from ostiary.clock import FrozenClock
from ostiary.dpop import DPoPChecker, MemoryReplayCache
from ostiary.errors import InvalidDPoPProof, InvalidRequest
from ostiary.jose import JWK
from ostiary.jose.dpop import make_proof
from ostiary.tokens.dpop_binding import (
    ProofRequest,
    checked_thumbprint,
    proof_key,
    require_key,
    require_proof,
    token_type,
)
from tests.unit.tokens.conftest import T0

URL = "https://auth.example.test/oauth/token"
KEY = JWK.generate("ES256")
OTHER_KEY = JWK.generate("ES256")


def proof(key: JWK = KEY, *, url: str = URL) -> str:
    return make_proof(key, method="POST", url=url, jti=secrets.token_urlsafe(12), iat=int(T0))


def checker() -> DPoPChecker:
    return DPoPChecker(MemoryReplayCache(), clock=FrozenClock(T0))


async def test_the_key_of_a_valid_proof_is_its_rfc_7638_thumbprint() -> None:
    offered = ProofRequest((proof(),), "POST", URL)
    assert await proof_key(checker(), offered) == KEY.thumbprint()


async def test_a_request_without_a_dpop_header_has_no_key() -> None:
    assert await proof_key(checker(), None) is None


async def test_a_proof_where_dpop_is_not_wired_is_refused() -> None:
    with pytest.raises(InvalidDPoPProof) as refused:
        await proof_key(None, ProofRequest((proof(),), "POST", URL))
    assert refused.value.reason == "unsupported"


async def test_an_empty_dpop_header_is_a_missing_proof_not_no_proof() -> None:
    offered = ProofRequest(("",), "POST", URL)
    with pytest.raises(InvalidDPoPProof) as refused:
        await proof_key(checker(), offered)
    assert refused.value.reason == "missing"


async def test_two_dpop_headers_are_refused() -> None:
    """RFC 9449 §4.3 step 1: exactly one ``DPoP`` header."""
    with pytest.raises(InvalidDPoPProof) as refused:
        await proof_key(checker(), ProofRequest((proof(), proof()), "POST", URL))
    assert refused.value.reason == "several"


def test_the_repr_of_a_proof_request_hides_the_proof() -> None:
    shown = repr(ProofRequest((proof(),), "POST", URL))
    assert "ey" not in shown and URL in shown


def test_an_unbound_thing_takes_any_proof_or_none() -> None:
    require_key(None, None, what="refresh token")
    require_key(None, KEY.thumbprint(), what="refresh token")


def test_a_bound_thing_wants_a_proof_by_its_key() -> None:
    require_key(KEY.thumbprint(), KEY.thumbprint(), what="refresh token")
    with pytest.raises(InvalidDPoPProof) as missing:
        require_key(KEY.thumbprint(), None, what="refresh token")
    assert missing.value.reason == "missing"
    with pytest.raises(InvalidDPoPProof) as other:
        require_key(KEY.thumbprint(), OTHER_KEY.thumbprint(), what="authorization code")
    assert other.value.reason == "key_mismatch"
    assert "authorization code" in other.value.description


def test_a_client_registered_for_dpop_must_send_a_proof() -> None:
    """RFC 9449 §5.2 ``dpop_bound_access_tokens``."""
    require_proof(None, client_id="svc", required=False)
    require_proof(KEY.thumbprint(), client_id="svc", required=True)
    with pytest.raises(InvalidDPoPProof) as refused:
        require_proof(None, client_id="svc", required=True)
    assert refused.value.reason == "required"
    assert refused.value.error == "invalid_dpop_proof"


def test_dpop_jkt_is_a_sha_256_thumbprint() -> None:
    assert checked_thumbprint(None) is None
    assert checked_thumbprint(KEY.thumbprint()) == KEY.thumbprint()
    for bad in ("", "abc", KEY.thumbprint() + "A", KEY.thumbprint()[:-1] + "=", "a" * 42 + "/"):
        with pytest.raises(InvalidRequest):
            checked_thumbprint(bad)


def test_the_token_type_says_whether_the_token_is_bound() -> None:
    assert token_type(None) == "Bearer"
    assert token_type(KEY.thumbprint()) == "DPoP"
