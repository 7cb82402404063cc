"""``/.well-known/jwks.json``: the public keys (RFC 7517 §5), next, active and retired."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from ostiary.server.dependencies import AppServices

router = APIRouter(tags=["keys"])
JWKS_MEDIA_TYPE = "application/jwk-set+json"


@router.get("/.well-known/jwks.json")
async def jwks(services: AppServices) -> Response:
    """Cacheable for ``jwks_max_age`` seconds: a next key is announced here longer than that
    before it signs, so no cache misses it."""
    body = json.dumps(services.keys.jwks(), separators=(",", ":"))
    max_age = services.settings.jwks_max_age
    return Response(
        body,
        media_type=JWKS_MEDIA_TYPE,
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )
