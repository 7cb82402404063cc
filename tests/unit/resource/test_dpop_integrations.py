"""DPoP at a protected API (RFC 9449 §7), the same behaviour behind the ASGI middleware and
the Flask extension: what is accepted, the challenges of §7.1 (``DPoP`` with ``algs``,
``invalid_dpop_proof``, ``invalid_token``), resource-server nonces (§9), ``require_dpop``, and
the URL a proof must name, which ``public_url`` fixes behind a proxy."""

from __future__ import annotations

import pytest

from ostiary.clock import FrozenClock
from ostiary.dpop import DPoPChecker, DPoPNonces, MemoryReplayCache
from ostiary.errors import ConfigurationError
from ostiary.jose import JWK
from ostiary.keys import generate_key
from ostiary.resource import TokenVerifier

from ._dpop import (
    ALGS,
    API,
    KEY_BINDING,
    Kind,
    Service,
    bound_token,
    dpop_headers,
    flask_app,
    proof,
    service,
    verifier_for,
)
from ._tokens import T0, mint

ISSUER_KEY = generate_key("ES256")
HOLDER = JWK.generate("ES256")
OTHER = JWK.generate("ES256")
ORDERS = f"{API}/orders"
BOTH = [("Bearer", {"realm": "api"}), ("DPoP", {"realm": "api", "algs": ALGS})]


@pytest.fixture(params=["asgi", "flask"])
def kind(request: pytest.FixtureRequest) -> Kind:
    chosen: Kind = request.param
    return chosen


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def verifier(clock: FrozenClock) -> TokenVerifier:
    return verifier_for(ISSUER_KEY, clock)


@pytest.fixture
def api(kind: Kind, verifier: TokenVerifier) -> Service:
    return service(kind, verifier)


async def test_a_bound_token_with_its_proof(api: Service) -> None:
    token = bound_token(ISSUER_KEY, HOLDER, sub="alice")
    for method in ("GET", "POST"):
        answer = await api.request(
            method,
            "/orders?page=2",  # the query is no part of htu (§4.2)
            dpop_headers(token, proof(HOLDER, method=method, token=token)),
        )
        assert answer.status == 200, answer.body
        assert answer.body["jkt"] == HOLDER.thumbprint()
        assert "dpop-nonce" not in answer.headers  # nonces are off by default


async def test_the_scheme_name_is_case_insensitive(api: Service) -> None:
    token = bound_token(ISSUER_KEY, HOLDER)
    headers = [("Authorization", f"dpop {token}"), ("DPoP", proof(HOLDER, token=token))]
    assert (await api.request("GET", "/orders", headers)).status == 200


async def test_bearer_tokens_still_work(api: Service) -> None:
    answer = await api.request(
        "GET", "/orders", [("Authorization", f"Bearer {mint(ISSUER_KEY, now=T0)}")]
    )
    assert (answer.status, answer.body["jkt"]) == (200, None)


async def test_no_credentials_offers_both_schemes(api: Service) -> None:
    """RFC 9449 §7.1 and §7.2: a resource taking both schemes challenges with both."""
    answer = await api.request("GET", "/orders")
    assert answer.status == 401
    assert answer.challenges == BOTH
    assert answer.body == {"error_description": "Bearer or DPoP authentication is required."}


async def test_a_bound_token_as_bearer_points_to_dpop(api: Service) -> None:
    token = bound_token(ISSUER_KEY, HOLDER)
    for headers in (
        [("Authorization", f"Bearer {token}")],
        [("Authorization", f"Bearer {token}"), ("DPoP", proof(HOLDER, token=token))],
    ):
        answer = await api.request("GET", "/orders", headers)
        answer.refused_with(401, "invalid_token")
        assert [scheme for scheme, _ in answer.challenges] == ["DPoP"]
        assert token not in str(answer.body) + str(answer.www_authenticate)


async def test_an_unbound_token_under_dpop(api: Service) -> None:
    token = mint(ISSUER_KEY, now=T0)
    answer = await api.request("GET", "/orders", dpop_headers(token, proof(HOLDER, token=token)))
    answer.refused_with(401, "invalid_token")


async def test_a_bad_token_under_dpop_is_invalid_token(api: Service) -> None:
    expired = bound_token(ISSUER_KEY, HOLDER, now=T0 - 3600)
    answer = await api.request(
        "GET", "/orders", dpop_headers(expired, proof(HOLDER, token=expired))
    )
    assert (
        answer.refused_with(401, "invalid_token")["error_description"] == "The token has expired."
    )


async def test_the_proof_of_another_key(api: Service) -> None:
    """RFC 9449 §7.1: the answer its own example gives, ``invalid_token`` for the binding."""
    token = bound_token(ISSUER_KEY, HOLDER)
    answer = await api.request("GET", "/orders", dpop_headers(token, proof(OTHER, token=token)))
    assert answer.refused_with(401, "invalid_token")["error_description"] == KEY_BINDING


@pytest.mark.parametrize(
    ("proofs", "description"),
    [
        pytest.param(0, "A DPoP proof is required.", id="no-proof"),
        pytest.param(2, "Send exactly one DPoP proof.", id="two-proofs"),
    ],
)
async def test_one_proof_exactly(api: Service, proofs: int, description: str) -> None:
    token = bound_token(ISSUER_KEY, HOLDER)
    sent = [proof(HOLDER, token=token) for _ in range(proofs)]
    answer = await api.request("GET", "/orders", dpop_headers(token, *sent))
    assert answer.refused_with(401, "invalid_dpop_proof")["error_description"] == description


async def test_a_malformed_dpop_credential(api: Service) -> None:
    answer = await api.request("GET", "/orders", [("Authorization", "DPoP a b")])
    answer.refused_with(400, "invalid_request")


async def test_the_url_is_the_one_the_client_called(kind: Kind, verifier: TokenVerifier) -> None:
    """Without ``public_url`` the proof must name the request's own scheme and host."""
    token = bound_token(ISSUER_KEY, HOLDER)
    direct = service(kind, verifier, base_url="http://orders.internal:8080")
    right = proof(HOLDER, url="http://orders.internal:8080/orders", token=token)
    assert (await direct.request("GET", "/orders", dpop_headers(token, right))).status == 200
    wrong = proof(HOLDER, url=ORDERS, token=token)
    answer = await direct.request("GET", "/orders", dpop_headers(token, wrong))
    answer.refused_with(401, "invalid_dpop_proof")


async def test_public_url_behind_a_proxy(kind: Kind, verifier: TokenVerifier) -> None:
    """The proxy reaches the app at an internal name and strips ``/api``: the proof names the
    public URL, whatever ``Host`` the app sees."""
    behind = service(
        kind, verifier, base_url="http://10.0.0.7:8000", public_url="https://example.test/api/"
    )
    token = bound_token(ISSUER_KEY, HOLDER)
    public = proof(HOLDER, url="https://EXAMPLE.test:443/api/orders", token=token)
    assert (await behind.request("GET", "/orders", dpop_headers(token, public))).status == 200
    for forged in ("http://10.0.0.7:8000/orders", "https://evil.test/api/orders"):
        answer = await behind.request(
            "GET", "/orders", dpop_headers(token, proof(HOLDER, url=forged, token=token))
        )
        answer.refused_with(401, "invalid_dpop_proof")


async def test_with_public_url_the_host_header_is_not_trusted(
    kind: Kind, verifier: TokenVerifier
) -> None:
    """A proof made for another server, replayed with that server's name in ``Host``."""
    api = service(kind, verifier, public_url=API)
    token = bound_token(ISSUER_KEY, HOLDER)
    elsewhere = proof(HOLDER, url="https://other.example.test/orders", token=token)
    headers = [*dpop_headers(token, elsewhere), ("Host", "other.example.test")]
    (await api.request("GET", "/orders", headers)).refused_with(401, "invalid_dpop_proof")


def test_public_url_must_be_an_absolute_url(kind: Kind, verifier: TokenVerifier) -> None:
    for wrong in ("api.example.test", "ftp://api.example.test", "https://api.test/?q=1"):
        with pytest.raises(ConfigurationError):
            service(kind, verifier, public_url=wrong)


async def test_resource_server_nonces(kind: Kind, clock: FrozenClock) -> None:
    """RFC 9449 §9: 401 ``use_dpop_nonce`` with ``DPoP-Nonce``; the retry with it passes and
    its answer carries the current nonce (§8.2)."""
    nonces = DPoPNonces(b"resource nonce secret, 32 bytes!")
    checker = DPoPChecker(MemoryReplayCache(), nonces=nonces, clock=clock)
    api = service(kind, verifier_for(ISSUER_KEY, clock, dpop=checker))
    token = bound_token(ISSUER_KEY, HOLDER, ttl=3600)
    asked = await api.request("GET", "/orders", dpop_headers(token, proof(HOLDER, token=token)))
    params = asked.refused_with(401, "use_dpop_nonce")
    assert params["error_description"] == "Resource server requires nonce in DPoP proof."
    nonce = asked.headers["dpop-nonce"]
    assert nonce == nonces.current(T0)
    retry = proof(HOLDER, token=token, nonce=nonce)
    answer = await api.request("GET", "/orders", dpop_headers(token, retry))
    assert (answer.status, answer.headers["dpop-nonce"]) == (200, nonce)
    clock.advance(2 * nonces.lifetime)  # the nonce is too old now
    stale = await api.request(
        "GET",
        "/orders",
        dpop_headers(token, proof(HOLDER, token=token, nonce=nonce, iat=clock.now())),
    )
    stale.refused_with(401, "use_dpop_nonce")
    assert stale.headers["dpop-nonce"] != nonce


async def test_require_dpop(kind: Kind, verifier: TokenVerifier) -> None:
    api = service(kind, verifier, require_dpop=True)
    bearer = mint(ISSUER_KEY, now=T0)
    refused = await api.request("GET", "/orders", [("Authorization", f"Bearer {bearer}")])
    refused.refused_with(401, "invalid_token")
    assert [scheme for scheme, _ in refused.challenges] == ["DPoP"]
    missing = await api.request("GET", "/orders")
    assert (missing.status, missing.challenges) == (401, [("DPoP", {"realm": "api", "algs": ALGS})])
    token = bound_token(ISSUER_KEY, HOLDER)
    ok = await api.request("GET", "/orders", dpop_headers(token, proof(HOLDER, token=token)))
    assert ok.status == 200


async def test_dpop_off(kind: Kind, verifier: TokenVerifier) -> None:
    """``dpop=False``: Bearer only; the DPoP scheme counts as no credentials, and a bound
    token is still refused as a bearer token."""
    api = service(kind, verifier, dpop=False)
    token = bound_token(ISSUER_KEY, HOLDER)
    answer = await api.request("GET", "/orders", dpop_headers(token, proof(HOLDER, token=token)))
    assert (answer.status, answer.challenges) == (401, [("Bearer", {"realm": "api"})])
    refused = await api.request("GET", "/orders", [("Authorization", f"Bearer {token}")])
    refused.refused_with(401, "invalid_token", scheme="Bearer")


def test_flask_needs_a_replay_cache_it_can_call(clock: FrozenClock) -> None:
    """A WSGI view cannot await: a replay cache without ``first_use_sync`` is refused at
    start, not at the first DPoP request."""

    class AsyncOnly:
        async def first_use(self, key: str, *, expires_at: float, now: float) -> bool:
            return True

    verifier = verifier_for(ISSUER_KEY, clock, dpop=DPoPChecker(AsyncOnly(), clock=clock))
    with pytest.raises(ConfigurationError):
        flask_app(verifier)
    flask_app(verifier, dpop=False)  # Bearer only needs no replay cache
