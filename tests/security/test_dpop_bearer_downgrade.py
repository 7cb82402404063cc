"""Attack: a stolen DPoP-bound access token sent as a plain bearer token (RFC 9449 §7.2), the
downgrade that would make the binding worthless. A protected resource must not accept a
bound token under the ``Bearer`` scheme, with or without a proof beside it, whether DPoP is
on or off there, and whatever it cached from the token's honest use before. Refused
``invalid_token``, with the ``DPoP`` challenge where DPoP is accepted."""

from __future__ import annotations

import pytest

from ostiary.errors import BoundTokenAsBearer
from ostiary.jose import JWK
from ostiary.resource import TokenVerifier
from tests.security._attacks import REFUSAL_TIMEOUT
from tests.unit.resource._dpop import (
    Kind,
    bound_token,
    dpop_headers,
    proof,
    send_within,
    service,
)
from tests.unit.resource._tokens import T0, mint


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_a_bound_token_as_bearer_is_refused(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, attacker_key: JWK, scheme: str
) -> None:
    holder = JWK.generate("ES256")
    token = bound_token(es256_key, holder)
    api = service(kind, verifier)
    answer = await send_within(
        api, [("Authorization", f"{scheme} {token}")], timeout=REFUSAL_TIMEOUT
    )
    params = answer.refused_with(401, "invalid_token")
    assert [name for name, _ in answer.challenges] == ["DPoP"]  # where to go instead
    assert "bound to a key" in params["error_description"]
    with pytest.raises(BoundTokenAsBearer):
        verifier.verify_sync(token)


async def test_with_a_proof_beside_it(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, attacker_key: JWK
) -> None:
    """The Bearer scheme with a DPoP header, even the holder's own good proof: the scheme
    decides, and Bearer never carries a bound token."""
    holder = JWK.generate("ES256")
    token = bound_token(es256_key, holder)
    api = service(kind, verifier)
    for key in (holder, attacker_key):
        headers = [("Authorization", f"Bearer {token}"), ("DPoP", proof(key, token=token))]
        answer = await send_within(api, headers, timeout=REFUSAL_TIMEOUT)
        answer.refused_with(401, "invalid_token")


async def test_after_the_token_was_used_honestly(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK
) -> None:
    """The verified-token cache holds the token from its DPoP use: the bearer path must not
    find it there."""
    holder = JWK.generate("ES256")
    token = bound_token(es256_key, holder)
    api = service(kind, verifier)
    honest = await api.request("GET", "/orders", dpop_headers(token, proof(holder, token=token)))
    assert honest.status == 200
    stolen = await send_within(api, [("Authorization", f"Bearer {token}")], timeout=REFUSAL_TIMEOUT)
    stolen.refused_with(401, "invalid_token")


async def test_where_dpop_is_off(kind: Kind, verifier: TokenVerifier, es256_key: JWK) -> None:
    """A resource that takes Bearer only still refuses a bound token, with its Bearer
    challenge."""
    token = bound_token(es256_key, JWK.generate("ES256"))
    api = service(kind, verifier, dpop=False)
    answer = await send_within(api, [("Authorization", f"Bearer {token}")], timeout=REFUSAL_TIMEOUT)
    answer.refused_with(401, "invalid_token", scheme="Bearer")


async def test_any_confirmation_method(kind: Kind, verifier: TokenVerifier, es256_key: JWK) -> None:
    """A token bound by another method (RFC 8705 mTLS ``x5t#S256``) is no bearer token
    either."""
    token = mint(es256_key, now=T0, cnf={"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})
    answer = await send_within(
        service(kind, verifier), [("Authorization", f"Bearer {token}")], timeout=REFUSAL_TIMEOUT
    )
    assert (answer.status, answer.error) == (401, "invalid_token")
