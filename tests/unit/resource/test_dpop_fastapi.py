"""DPoP under FastAPI (``install``, ``CurrentClaims``, ``require_dpop``, ``require_scopes(...,
dpop=True)``) and end to end through a real uvicorn with :class:`DPoPAuth` as the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ostiary.clock import FrozenClock
from ostiary.dpop import DPoPChecker, DPoPNonces, MemoryReplayCache
from ostiary.jose import JWK
from ostiary.keys import generate_key
from ostiary.resource import DPoPAuth, TokenVerifier
from ostiary.resource.fastapi import CurrentClaims, install, require_dpop, require_scopes
from tests._uvicorn import serve

from ._dpop import ALGS, API, Answer, bound_token, dpop_headers, proof, verifier_for
from ._tokens import T0, mint

ISSUER_KEY = generate_key("ES256")
HOLDER = JWK.generate("ES256")


def build_app(verifier: TokenVerifier, **options: Any) -> FastAPI:
    app = FastAPI()
    install(app, verifier, public_paths={"/healthz"}, **options)

    @app.get("/orders")
    async def orders(claims: CurrentClaims) -> dict[str, Any]:
        return {"sub": claims.sub, "jkt": claims.dpop_jkt}

    @app.post("/payments", dependencies=[require_dpop()])
    async def pay(claims: CurrentClaims) -> dict[str, Any]:
        return {"paid_by": claims.sub, "jkt": claims.dpop_jkt}

    @app.delete("/orders", dependencies=[require_scopes("orders:write", dpop=True)])
    async def delete_orders() -> dict[str, bool]:
        return {"deleted": True}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def verifier(clock: FrozenClock) -> TokenVerifier:
    return verifier_for(ISSUER_KEY, clock)


@pytest.fixture(params=[True, False], ids=["middleware", "dependencies-only"])
async def client(
    request: pytest.FixtureRequest, verifier: TokenVerifier
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(verifier, middleware=request.param))
    async with httpx.AsyncClient(transport=transport, base_url=API) as c:
        yield c


def answer(r: httpx.Response) -> Answer:
    return Answer(
        r.status_code,
        {k.lower(): v for k, v in r.headers.items()},
        r.headers.get_list("www-authenticate"),
        r.json(),
    )


async def test_current_claims_under_dpop(client: httpx.AsyncClient) -> None:
    token = bound_token(ISSUER_KEY, HOLDER, sub="svc")
    r = await client.get("/orders", headers=dpop_headers(token, proof(HOLDER, token=token)))
    assert (r.status_code, r.json()) == (200, {"sub": "svc", "jkt": HOLDER.thumbprint()})


async def test_require_dpop_on_one_route(client: httpx.AsyncClient) -> None:
    bearer = mint(ISSUER_KEY, now=T0, sub="svc")
    assert (await client.get("/orders", headers={"Authorization": f"Bearer {bearer}"})).is_success
    refused = answer(await client.post("/payments", headers={"Authorization": f"Bearer {bearer}"}))
    refused.refused_with(401, "invalid_token")
    assert [scheme for scheme, _ in refused.challenges] == ["DPoP"]
    token = bound_token(ISSUER_KEY, HOLDER, sub="svc")
    paid = await client.post(
        "/payments",
        headers=dpop_headers(
            token, proof(HOLDER, method="POST", url=f"{API}/payments", token=token)
        ),
    )
    assert paid.json() == {"paid_by": "svc", "jkt": HOLDER.thumbprint()}


async def test_insufficient_scope_under_dpop(client: httpx.AsyncClient) -> None:
    """RFC 9449 §7.1 allows ``scope`` in the DPoP challenge, as RFC 6750 §3 in Bearer's."""
    token = bound_token(ISSUER_KEY, HOLDER, scope="orders:read")
    r = await client.delete(
        "/orders",
        headers=dpop_headers(token, proof(HOLDER, method="DELETE", token=token)),
    )
    params = answer(r).refused_with(403, "insufficient_scope")
    assert params["scope"] == r.json()["scope"] == "orders:write"
    writer = bound_token(ISSUER_KEY, HOLDER, scope="orders:write")
    ok = await client.delete(
        "/orders", headers=dpop_headers(writer, proof(HOLDER, method="DELETE", token=writer))
    )
    assert ok.json() == {"deleted": True}


async def test_a_public_path_needs_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_install_require_dpop(verifier: TokenVerifier) -> None:
    transport = httpx.ASGITransport(app=build_app(verifier, require_dpop=True))
    async with httpx.AsyncClient(transport=transport, base_url=API) as c:
        r = await c.get("/orders")
        assert r.headers.get_list("www-authenticate") == [f'DPoP realm="api", algs="{ALGS}"']
        bearer = mint(ISSUER_KEY, now=T0)
        answer(await c.get("/orders", headers={"Authorization": f"Bearer {bearer}"})).refused_with(
            401, "invalid_token"
        )


@pytest.mark.slow
def test_through_a_real_uvicorn_with_dpop_auth() -> None:
    """Real sockets, a real server: DPoPAuth signs each request, the API asks for its nonce
    once (§9) and the client retries with it; a replayed request is refused."""
    clock = FrozenClock(T0)
    nonces = DPoPNonces(b"the API's own nonce secret......")
    checker = DPoPChecker(MemoryReplayCache(), nonces=nonces, clock=clock)
    verifier = verifier_for(ISSUER_KEY, clock, dpop=checker)
    auth = DPoPAuth(HOLDER, clock=clock)
    token = bound_token(ISSUER_KEY, auth.jkt, sub="svc")
    seen: list[httpx.Request] = []
    with (
        serve(build_app(verifier)) as base_url,
        httpx.Client(
            base_url=base_url,
            auth=auth,
            headers={"Authorization": f"DPoP {token}"},
            event_hooks={"request": [seen.append]},
        ) as http,
    ):
        first = http.get("/orders", params={"page": "1"})
        assert (first.status_code, first.json()["jkt"]) == (200, auth.jkt)
        assert len(seen) == 2  # refused for want of the nonce, then sent again with it
        assert first.headers["dpop-nonce"] == nonces.current(T0)
        second = http.post("/payments")
        assert second.status_code == 200 and len(seen) == 3  # the nonce was known already
        replayed = httpx.post(
            f"{base_url}/payments",
            headers={"Authorization": f"DPoP {token}", "DPoP": seen[-1].headers["DPoP"]},
        )
        assert replayed.status_code == 401
        assert 'error="invalid_dpop_proof"' in replayed.headers["www-authenticate"]
