"""Attack: a proof made for one request used for another (RFC 9449 §4.3 steps 8-9): a proof
captured on a GET replayed on a DELETE, one made for another route, another host (a proof
for another server), another scheme or port. ``htm`` must be the request's method and ``htu``
its URL, compared after the normalization of RFC 3986 §6.2.2-6.2.3 and without query and
fragment. Refused ``invalid_dpop_proof`` (``wrong_method``, ``wrong_uri``)."""

from __future__ import annotations

import pytest

from ostiary.jose import JWK
from ostiary.resource import TokenVerifier
from tests.security._attacks import REFUSAL_TIMEOUT
from tests.unit.resource._dpop import (
    API,
    ORDERS,
    Kind,
    bound_token,
    dpop_headers,
    proof,
    refusal_reason,
    send_within,
    service,
)

HOLDER = JWK.generate("ES256")


@pytest.mark.parametrize("htm", ["GET", "get", "Post", "DELETE ", "HEAD"])
async def test_another_method(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, htm: str
) -> None:
    token = bound_token(es256_key, HOLDER)
    wrong = proof(HOLDER, method=htm, token=token)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, wrong), method="POST", timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [wrong], method="POST") == "wrong_method"


@pytest.mark.parametrize(
    "htu",
    [
        pytest.param(f"{API}/payments", id="another-route"),
        pytest.param(f"{API}/orders/", id="a-trailing-slash"),
        pytest.param(f"{API}/Orders", id="another-case-in-the-path"),
        pytest.param("https://other.example.test/orders", id="another-server"),
        pytest.param("https://api.example.test.evil.test/orders", id="a-suffixed-host"),
        pytest.param("http://api.example.test/orders", id="plain-http"),
        pytest.param("https://api.example.test:8443/orders", id="another-port"),
        pytest.param("https://user@api.example.test/orders", id="with-user-information"),
        pytest.param("/orders", id="a-relative-uri"),
        pytest.param("ws://api.example.test/orders", id="not-http"),
        pytest.param("https://api.example.test/orders%2Fx", id="an-escaped-slash"),
    ],
)
async def test_another_uri(kind: Kind, verifier: TokenVerifier, es256_key: JWK, htu: str) -> None:
    token = bound_token(es256_key, HOLDER)
    wrong = proof(HOLDER, url=htu, token=token)
    answer = await send_within(
        service(kind, verifier), dpop_headers(token, wrong), timeout=REFUSAL_TIMEOUT
    )
    answer.refused_with(401, "invalid_dpop_proof")
    assert refusal_reason(verifier, token, [wrong]) == "wrong_uri"


@pytest.mark.parametrize(
    "htu",
    [
        pytest.param(f"{ORDERS}?page=2", id="with-a-query"),
        pytest.param(f"{ORDERS}#fragment", id="with-a-fragment"),
        pytest.param("HTTPS://API.EXAMPLE.TEST:443/orders", id="scheme-host-case-default-port"),
        pytest.param(f"{API}/%6Frders", id="an-escaped-unreserved-character"),
    ],
)
async def test_the_same_uri_written_otherwise_passes(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, htu: str
) -> None:
    """The controls: what RFC 3986 normalization makes equal is the same URI."""
    token = bound_token(es256_key, HOLDER)
    headers = dpop_headers(token, proof(HOLDER, url=htu, token=token))
    assert (await service(kind, verifier).request("GET", "/orders", headers)).status == 200


@pytest.mark.parametrize(
    "host",
    [
        "api.example.test/payments?",
        "api.example.test/payments#",
        "api.example.test/payments/..",
        "api.example.test:443/payments?x=",
        "user@api.example.test",
        "api.example.test /payments",
    ],
)
async def test_a_host_header_that_smuggles_a_path(
    kind: Kind, verifier: TokenVerifier, es256_key: JWK, host: str
) -> None:
    """Without ``public_url`` the URL is rebuilt from ``Host``: a ``Host`` that is more than
    a host and port must not turn a proof for ``/payments`` into one for ``/orders``."""
    token = bound_token(es256_key, HOLDER)
    for_payments = proof(HOLDER, url=f"{API}/payments", token=token)
    headers = [*dpop_headers(token, for_payments), ("Host", host)]
    answer = await send_within(service(kind, verifier), headers, timeout=REFUSAL_TIMEOUT)
    assert answer.status in (400, 401), answer.body
    assert answer.error in ("invalid_dpop_proof", "invalid_request")
