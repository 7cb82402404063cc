"""Orders: an API for users that calls inventory with a token of its own.

Users call ``GET /orders/{id}`` with the access token ``POST /auth/login`` gave them (audience
``USER_AUDIENCE``: the auth server's ``OSTIARY_AUDIENCE``, by default ``api``). To answer, orders
asks inventory for the stock with its own service token (the client credentials grant, RFC 6749
§4.4): the user's token is never forwarded, and inventory would refuse it anyway (it names
another audience).
``ClientCredentialsAuth`` fetches that token once and reuses it until shortly before it expires.

Run it with ``uvicorn --factory orders:create_app``; it reads ``AUTH_URL``, ``INVENTORY_URL``,
``INVENTORY_AUDIENCE``, ``ORDERS_CLIENT_ID`` and ``ORDERS_CLIENT_SECRET`` (required).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import httpx
from fastapi import FastAPI, HTTPException

from ostiary.resource import ClientCredentialsAuth, TokenRequestFailed, TokenVerifier
from ostiary.resource.fastapi import CurrentClaims, install

DEFAULT_AUTH_URL: Final = "http://127.0.0.1:8000"
DEFAULT_INVENTORY_URL: Final = "http://127.0.0.1:8101"
DEFAULT_INVENTORY_AUDIENCE: Final = "https://inventory.example"
ORDERS: Final = {
    "1": {"sku": "sku-1", "quantity": 2},
    "2": {"sku": "sku-2", "quantity": 1},
}


def create_app() -> FastAPI:
    """The app, configured from the environment (see the module's docstring)."""
    auth_url = os.environ.get("AUTH_URL", DEFAULT_AUTH_URL).rstrip("/")
    verifier = TokenVerifier(
        issuer=auth_url,
        audience=os.environ.get("USER_AUDIENCE", "api"),
        jwks_url=f"{auth_url}/.well-known/jwks.json",
    )
    service_token = ClientCredentialsAuth(
        f"{auth_url}/oauth/token",
        os.environ.get("ORDERS_CLIENT_ID", "orders"),
        os.environ["ORDERS_CLIENT_SECRET"],
        scope="inventory:read",
        resource=os.environ.get("INVENTORY_AUDIENCE", DEFAULT_INVENTORY_AUDIENCE),
    )
    inventory = httpx.AsyncClient(
        base_url=os.environ.get("INVENTORY_URL", DEFAULT_INVENTORY_URL),
        auth=service_token,
        timeout=5.0,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await inventory.aclose()
        await service_token.aclose()

    app = FastAPI(title="orders", lifespan=lifespan)
    install(app, verifier, realm="orders", public_paths={"/healthz"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/orders/{order_id}")
    async def order(order_id: str, claims: CurrentClaims) -> dict[str, Any]:
        if order_id not in ORDERS:
            raise HTTPException(status_code=404, detail=f"unknown order {order_id}")
        line = ORDERS[order_id]
        try:
            answer = await inventory.get(f"/stock/{line['sku']}")
        except (TokenRequestFailed, httpx.HTTPError) as exc:
            raise HTTPException(status_code=502, detail="inventory is unavailable") from exc
        if answer.status_code != 200:
            raise HTTPException(status_code=502, detail=f"inventory said {answer.status_code}")
        return {"order": order_id, "user": claims.sub, **line, "stock": answer.json()}

    return app
