"""``/.well-known``: the public keys (RFC 7517 §5: next, active and retired) and the
authorization server's metadata (RFC 8414, OpenID Connect Discovery)."""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ostiary.jose import ALGORITHMS
from ostiary.server.dependencies import AppServices
from ostiary.settings import Settings
from ostiary.storage.records import ClientAuthMethod
from ostiary.wiring import published_keys

router = APIRouter(tags=["keys"])
JWKS_MEDIA_TYPE = "application/jwk-set+json"
#: Client assertions (private_key_jwt) are asymmetric: the client's public keys verify them.
ASSERTION_ALGS: Final = sorted(a for a in ALGORITHMS if not a.startswith("HS"))


@router.get("/.well-known/jwks.json")
async def jwks(services: AppServices) -> Response:
    """Cacheable for ``jwks_max_age`` seconds: a next key is announced here longer than that
    before it signs, so no cache misses it."""
    body = json.dumps(published_keys(services), separators=(",", ":"))
    max_age = services.settings.jwks_max_age
    return Response(
        body,
        media_type=JWKS_MEDIA_TYPE,
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )


@router.get("/.well-known/openid-configuration")
async def openid_configuration(services: AppServices) -> JSONResponse:
    """OpenID Connect Discovery §3 (the same document as RFC 8414's)."""
    return _metadata(services)


@router.get("/.well-known/oauth-authorization-server")
async def oauth_authorization_server(services: AppServices) -> JSONResponse:
    """RFC 8414 §3: the authorization server's metadata."""
    return _metadata(services)


def _metadata(services: AppServices) -> JSONResponse:
    return JSONResponse(
        server_metadata(services.settings, services.oauth.token_endpoint.grant_types),
        headers={"Cache-Control": "public, max-age=300"},
    )


def server_metadata(settings: Settings, grant_types: list[str]) -> dict[str, Any]:
    """Every endpoint and what it supports (RFC 8414 §2, OpenID Connect Discovery §3)."""
    base = settings.issuer.rstrip("/")
    auth_methods = [m.value for m in ClientAuthMethod]
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "end_session_endpoint": f"{base}/oauth/logout",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [settings.id_token_signing_alg],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": [
            m for m in auth_methods if m != ClientAuthMethod.NONE.value
        ],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "at_hash",
            "preferred_username",
        ],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        # OpenID Connect Back-Channel Logout 1.0 §2.1: Logout Tokens always carry sid.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
