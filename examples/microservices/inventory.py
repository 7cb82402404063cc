"""Inventory: a resource server that accepts only tokens issued for it.

Its audience is its own URI (``INVENTORY_AUDIENCE``, by default ``https://inventory.example``),
so a user's token for the auth server's default audience is refused 401 ``wrong_audience``;
``GET /stock/{sku}`` also needs the scope ``inventory:read``. It answers with the caller's
``client_id`` and the ``jti`` of its token, so that one sees which service called with which
token.

Run it with ``uvicorn --factory inventory:create_app``; ``AUTH_URL`` is the auth server (its
issuer), ``http://127.0.0.1:8000`` by default.
"""

from __future__ import annotations

import os
from typing import Final

from fastapi import FastAPI, HTTPException

from ostiary.resource import TokenVerifier
from ostiary.resource.fastapi import CurrentClaims, install, require_scopes

DEFAULT_AUTH_URL: Final = "http://127.0.0.1:8000"
DEFAULT_AUDIENCE: Final = "https://inventory.example"
STOCK: Final = {"sku-1": 12, "sku-2": 0, "sku-3": 240}


def create_app() -> FastAPI:
    """The app, configured from ``AUTH_URL`` and ``INVENTORY_AUDIENCE``."""
    auth_url = os.environ.get("AUTH_URL", DEFAULT_AUTH_URL).rstrip("/")
    verifier = TokenVerifier(
        issuer=auth_url,
        audience=os.environ.get("INVENTORY_AUDIENCE", DEFAULT_AUDIENCE),
        jwks_url=f"{auth_url}/.well-known/jwks.json",
    )
    app = FastAPI(title="inventory")
    install(app, verifier, realm="inventory", public_paths={"/healthz"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/stock/{sku}", dependencies=[require_scopes("inventory:read")])
    async def stock(sku: str, claims: CurrentClaims) -> dict[str, object]:
        if sku not in STOCK:
            raise HTTPException(status_code=404, detail=f"unknown sku {sku}")
        caller = {"client_id": claims.client_id, "token_jti": claims.jti}
        return {"sku": sku, "available": STOCK[sku], "caller": caller}

    return app
