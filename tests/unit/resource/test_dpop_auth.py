"""DPoPAuth (RFC 9449 on the client's side) and ClientCredentialsAuth with ``dpop=``.

The token endpoint is a small real ASGI app under uvicorn on 127.0.0.1 (ClientCredentialsAuth
fetches tokens with an httpx client of its own): it asks for its nonce once (§8), then checks
each proof with :class:`~ostiary.dpop.DPoPChecker` and issues a token bound to the proof's key
(``token_type: DPoP``, ``cnf.jkt``, §5 and §6.1). The APIs are the toolkit's own integrations
(the ASGI middleware over ``httpx.ASGITransport``, Flask over ``httpx.WSGITransport``) with
resource-server nonces on (§9), so that both retries are exercised. Time is a FrozenClock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ostiary.clock import FrozenClock
from ostiary.dpop import DPoPChecker, DPoPNonces, MemoryReplayCache
from ostiary.errors import ConfigurationError, InvalidDPoPProof, UseDPoPNonce
from ostiary.jose import JWK
from ostiary.jose.dpop import DPoPProof, access_token_hash, verify_proof
from ostiary.keys import generate_key
from ostiary.resource import ClientCredentialsAuth, DPoPAuth, TokenRequestFailed, TokenVerifier
from tests._uvicorn import serve

from ._dpop import asgi_app, bound_token, flask_app, verifier_for
from ._tokens import T0, mint

ISSUER_KEY = generate_key("ES256")
CLIENT_ID: Final = "orders-service"
SECRET: Final = "s3cret-of-the-orders-service"
API_URL: Final = "http://api.test"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def proof_of(request: httpx.Request, *, now: float) -> DPoPProof:
    """The proof a request carried, checked as a server would (without its replay cache)."""
    return verify_proof(
        request.headers["DPoP"], method=request.method, url=str(request.url), now=now
    )


# --- the token endpoint -----------------------------------------------------------------


@dataclass
class TokenEndpoint:
    """``POST /token``: client credentials with HTTP Basic, a DPoP proof with the endpoint's
    nonce (RFC 9449 §8), tokens bound to the proof's key."""

    clock: FrozenClock
    token_type: str = "DPoP"
    nonces: DPoPNonces = field(
        default_factory=lambda: DPoPNonces(b"the token endpoint's secret.....")
    )
    requests: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.checker = DPoPChecker(MemoryReplayCache(), nonces=self.nonces, clock=self.clock)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/token", self.token, methods=["POST"])])

    async def token(self, request: Request) -> JSONResponse:
        form = parse_qs((await request.body()).decode())
        proofs = request.headers.getlist("dpop")
        self.requests.append({"form": form, "proofs": proofs, "headers": dict(request.headers)})
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, 401)
        if form.get("grant_type") != ["client_credentials"]:
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        jkt = None
        if proofs:
            try:
                checked = await self.checker.check(proofs, method="POST", url=str(request.url))
            except UseDPoPNonce as exc:
                body = {"error": "use_dpop_nonce", "error_description": exc.description}
                return JSONResponse(body, 400, headers={"DPoP-Nonce": exc.nonce})
            except InvalidDPoPProof as exc:
                return JSONResponse({"error": "invalid_dpop_proof", "reason": exc.reason}, 400)
            jkt = checked.jkt
        bound = jkt is not None and self.token_type == "DPoP"
        token = (
            bound_token(ISSUER_KEY, jkt, now=self.clock.now(), client_id=CLIENT_ID, sub=CLIENT_ID)
            if bound and jkt is not None
            else mint(ISSUER_KEY, now=self.clock.now(), client_id=CLIENT_ID, sub=CLIENT_ID)
        )
        self.issued.append(token)
        answer = {"access_token": token, "token_type": self.token_type if bound else "Bearer"}
        return JSONResponse({**answer, "expires_in": 300}, headers={"Cache-Control": "no-store"})


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def endpoint(clock: FrozenClock) -> Iterator[tuple[TokenEndpoint, str]]:
    endpoint = TokenEndpoint(clock)
    with serve(endpoint.app()) as base_url:
        yield endpoint, f"{base_url}/token"


@pytest.fixture
def api_verifier(clock: FrozenClock) -> TokenVerifier:
    """The API's verifier, asking for nonces of its own (§9)."""
    nonces = DPoPNonces(b"the API's nonce secret, 32 bytes")
    return verifier_for(
        ISSUER_KEY, clock, dpop=DPoPChecker(MemoryReplayCache(), nonces=nonces, clock=clock)
    )


@dataclass
class Recorder:
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)


async def _arecord(recorder: Recorder, request: httpx.Request) -> None:
    recorder(request)


# --- DPoPAuth on its own ----------------------------------------------------------------


def test_keys_generated_or_loaded() -> None:
    assert DPoPAuth().key.alg == "ES256"
    assert DPoPAuth(alg="EdDSA").key.alg == "EdDSA"
    key = JWK.generate("ES256")
    assert DPoPAuth(key).jkt == key.thumbprint()
    assert DPoPAuth(key.private_dict()).jkt == key.thumbprint()
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert DPoPAuth(pem, password=b"pw").key.alg == "ES256"
    auth = DPoPAuth(key)
    assert "d" not in auth.public_jwk and auth.public_jwk["kty"] == "EC"
    assert key.private_dict()["d"] not in repr(auth)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(JWK.generate("ES256").public(), id="public-key"),
        pytest.param(JWK.generate("HS256"), id="hmac-key"),
        pytest.param(JWK.generate("ES256").public_dict(), id="public-jwk-dict"),
    ],
)
def test_a_key_that_cannot_sign_proofs_is_refused(key: Any) -> None:
    with pytest.raises(ConfigurationError):
        DPoPAuth(key)


def test_an_algorithm_other_than_the_keys_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        DPoPAuth(JWK.generate("ES256"), alg="EdDSA")


def echo_app() -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(
            {"ok": True}, headers={"DPoP-Nonce": request.query_params.get("nonce", "n-1")}
        )

    return Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])


async def test_each_request_gets_a_fresh_proof(clock: FrozenClock) -> None:
    auth = DPoPAuth(clock=clock)
    seen = Recorder()
    transport = httpx.ASGITransport(app=echo_app())
    async with httpx.AsyncClient(
        transport=transport,
        base_url=API_URL,
        auth=auth,
        event_hooks={"request": [lambda r: _arecord(seen, r)]},
    ) as client:
        await client.get("/orders?page=2#top")
        clock.advance(7)
        await client.post("/orders", headers={"Authorization": "DPoP the-token"})
        await client.get("/orders", headers={"Authorization": "Bearer other"})
    first, second, third = (proof_of(r, now=clock.now()) for r in seen.requests)
    assert (first.htm, first.htu, first.iat) == ("GET", f"{API_URL}/orders", T0)
    assert (second.htm, second.iat) == ("POST", T0 + 7)
    assert len({first.jti, second.jti, third.jti}) == 3
    assert first.jkt == auth.jkt
    payloads = [claims_of(r.headers["DPoP"]) for r in seen.requests]
    assert "ath" not in payloads[0] and "ath" not in payloads[2]  # no DPoP token: no ath
    assert payloads[1]["ath"] == access_token_hash("the-token")
    # the nonce of the first answer went into the next proofs to the origin (§8.2)
    assert "nonce" not in payloads[0] and payloads[1]["nonce"] == payloads[2]["nonce"] == "n-1"


async def test_nonces_are_kept_per_origin(clock: FrozenClock) -> None:
    auth = DPoPAuth(clock=clock)
    transport = httpx.ASGITransport(app=echo_app())
    async with httpx.AsyncClient(transport=transport, auth=auth) as client:
        await client.get("https://one.test/x", params={"nonce": "first"})
        await client.get("https://two.test:8443/x", params={"nonce": "second"})
    assert auth.nonce_for("https://ONE.test:443/y") == "first"
    assert auth.nonce_for("https://two.test:8443/") == "second"
    assert auth.nonce_for("https://two.test/") is None  # another port, another origin
    assert claims_of(auth.proof("GET", "https://one.test/z"))["nonce"] == "first"


def nagging_app(status: int) -> Starlette:
    """Refuses every proof for want of a nonce, with a new nonce each time."""
    count = iter(range(1000))

    async def nag(request: Request) -> JSONResponse:
        nonce = f"nonce-{next(count)}"
        if status == 401:
            challenge = (
                'DPoP error="use_dpop_nonce", '
                'error_description="Resource server requires nonce in DPoP proof.", algs="ES256"'
            )
            return JSONResponse(
                {"error": "use_dpop_nonce"},
                401,
                headers={"WWW-Authenticate": challenge, "DPoP-Nonce": nonce},
            )
        return JSONResponse({"error": "use_dpop_nonce"}, 400, headers={"DPoP-Nonce": nonce})

    return Starlette(routes=[Route("/{path:path}", nag, methods=["GET", "POST"])])


@pytest.mark.parametrize("status", [401, 400])
async def test_a_nonce_challenge_is_retried_once(status: int) -> None:
    seen = Recorder()
    transport = httpx.ASGITransport(app=nagging_app(status))
    async with httpx.AsyncClient(
        transport=transport,
        base_url=API_URL,
        auth=DPoPAuth(),
        event_hooks={"request": [lambda r: _arecord(seen, r)]},
    ) as client:
        answer = await client.post("/x", content=b"{}")
    assert answer.status_code == status
    assert len(seen.requests) == 2
    assert claims_of(seen.requests[1].headers["DPoP"])["nonce"] == "nonce-0"


async def test_a_streamed_body_is_not_sent_twice() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"once"

    seen = Recorder()
    transport = httpx.ASGITransport(app=nagging_app(401))
    async with httpx.AsyncClient(
        transport=transport,
        base_url=API_URL,
        auth=DPoPAuth(),
        event_hooks={"request": [lambda r: _arecord(seen, r)]},
    ) as client:
        answer = await client.post("/x", content=body())
    assert (answer.status_code, len(seen.requests)) == (401, 1)


def test_a_token_request_with_dpop_auth(
    endpoint: tuple[TokenEndpoint, str], clock: FrozenClock
) -> None:
    """DPoPAuth alone on a token request (§5): the endpoint's 400 ``use_dpop_nonce`` (§8) is
    answered by one retry with the nonce, and the token is bound to the key."""
    server, token_url = endpoint
    auth = DPoPAuth(clock=clock)
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    with httpx.Client(auth=auth) as client:
        answer = client.post(
            token_url,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"
    assert claims_of(answer.json()["access_token"])["cnf"] == {"jkt": auth.jkt}
    assert len(server.requests) == 2
    assert auth.nonce_for(token_url) == server.nonces.current(T0)


# --- ClientCredentialsAuth with dpop= ------------------------------------------------------


async def test_client_credentials_with_dpop_async(
    endpoint: tuple[TokenEndpoint, str], clock: FrozenClock, api_verifier: TokenVerifier
) -> None:
    server, token_url = endpoint
    dpop = DPoPAuth(clock=clock)
    auth = ClientCredentialsAuth(token_url, CLIENT_ID, SECRET, clock=clock, dpop=dpop)
    seen = Recorder()
    transport = httpx.ASGITransport(app=asgi_app(api_verifier))
    try:
        async with httpx.AsyncClient(
            transport=transport,
            base_url=API_URL,
            auth=auth,
            event_hooks={"request": [lambda r: _arecord(seen, r)]},
        ) as api:
            first = await api.get("/orders")
            assert first.status_code == 200, first.text
            assert first.json()["jkt"] == dpop.jkt
            second = await api.post("/orders", content=b"{}")
            assert second.status_code == 200
    finally:
        await auth.aclose()
    # the token endpoint: refused for its nonce once, then a bound token
    assert len(server.requests) == 2
    assert all(len(r["proofs"]) == 1 for r in server.requests)
    assert claims_of(server.issued[0])["cnf"] == {"jkt": dpop.jkt}
    # the API: refused for its nonce once, then every request with DPoP and a fresh proof
    assert len(seen.requests) == 3
    for request in seen.requests:
        assert request.headers["Authorization"] == f"DPoP {server.issued[0]}"
    assert claims_of(seen.requests[2].headers["DPoP"])["ath"] == access_token_hash(server.issued[0])


def test_client_credentials_with_dpop_sync(
    endpoint: tuple[TokenEndpoint, str], clock: FrozenClock, api_verifier: TokenVerifier
) -> None:
    server, token_url = endpoint
    dpop = DPoPAuth(clock=clock)
    auth = ClientCredentialsAuth(token_url, CLIENT_ID, SECRET, clock=clock, dpop=dpop)
    seen = Recorder()
    transport = httpx.WSGITransport(app=flask_app(api_verifier))
    try:
        with httpx.Client(
            transport=transport, base_url=API_URL, auth=auth, event_hooks={"request": [seen]}
        ) as api:
            for path in ("/orders", "/dpop/orders", "/dpop/orders"):
                answer = api.get(path)
                assert answer.status_code == 200, answer.text
                assert answer.json()["jkt"] == dpop.jkt
    finally:
        auth.close()
    assert len(server.requests) == 2 and len(server.issued) == 1
    assert len(seen.requests) == 4  # one nonce retry, then one request each


async def test_a_revoked_dpop_token_is_renewed(
    endpoint: tuple[TokenEndpoint, str], clock: FrozenClock
) -> None:
    """401 ``DPoP error="invalid_token"``: a new token, and the request once more."""
    server, token_url = endpoint
    verifier = verifier_for(ISSUER_KEY, clock)
    dpop = DPoPAuth(clock=clock)
    auth = ClientCredentialsAuth(token_url, CLIENT_ID, SECRET, clock=clock, dpop=dpop)
    transport = httpx.ASGITransport(app=asgi_app(verifier))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=API_URL, auth=auth) as api:
            assert (await api.get("/orders")).status_code == 200
            verifier.revoke_token(claims_of(server.issued[0])["jti"], expires_at=T0 + 300)
            again = await api.get("/orders")
            assert again.status_code == 200, again.text
    finally:
        await auth.aclose()
    assert len(server.issued) == 2


async def test_a_bearer_token_from_the_endpoint_is_used_as_bearer(
    endpoint: tuple[TokenEndpoint, str], clock: FrozenClock
) -> None:
    """RFC 9449 §5: a server may issue a Bearer token to a client that sent a proof."""
    server, token_url = endpoint
    server.token_type = "Bearer"
    auth = ClientCredentialsAuth(
        token_url, CLIENT_ID, SECRET, clock=clock, dpop=DPoPAuth(clock=clock)
    )
    seen = Recorder()
    transport = httpx.ASGITransport(app=asgi_app(verifier_for(ISSUER_KEY, clock)))
    try:
        async with httpx.AsyncClient(
            transport=transport,
            base_url=API_URL,
            auth=auth,
            event_hooks={"request": [lambda r: _arecord(seen, r)]},
        ) as api:
            answer = await api.get("/orders")
    finally:
        await auth.aclose()
    assert (answer.status_code, answer.json()["jkt"]) == (200, None)
    assert seen.requests[0].headers["Authorization"].startswith("Bearer ")
    assert "DPoP" not in seen.requests[0].headers


def test_without_dpop_a_dpop_token_type_is_refused(
    endpoint: tuple[TokenEndpoint, str], clock: FrozenClock
) -> None:
    """Unchanged without ``dpop=``: no proof is sent, and only a Bearer token is taken."""
    server, token_url = endpoint
    auth = ClientCredentialsAuth(token_url, CLIENT_ID, SECRET, clock=clock)
    transport = httpx.WSGITransport(app=flask_app(verifier_for(ISSUER_KEY, clock)))
    try:
        with httpx.Client(transport=transport, base_url=API_URL, auth=auth) as api:
            assert api.get("/orders").json()["jkt"] is None
    finally:
        auth.close()
    assert server.requests[0]["proofs"] == []
    assert "cnf" not in claims_of(server.issued[0])  # a plain bearer token, as before


def test_a_dpop_token_type_needs_dpop(clock: FrozenClock) -> None:
    async def token(request: Request) -> JSONResponse:
        return JSONResponse({"access_token": "abc", "token_type": "DPoP", "expires_in": 60})

    with serve(Starlette(routes=[Route("/token", token, methods=["POST"])])) as base_url:
        auth = ClientCredentialsAuth(f"{base_url}/token", CLIENT_ID, SECRET, clock=clock)
        transport = httpx.WSGITransport(app=flask_app(verifier_for(ISSUER_KEY, clock)))
        try:
            with (
                httpx.Client(transport=transport, auth=auth) as api,
                pytest.raises(TokenRequestFailed) as failed,
            ):
                api.get("http://api.test/")
        finally:
            auth.close()
    assert "token_type other than Bearer" in str(failed.value)
