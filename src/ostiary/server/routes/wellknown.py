"""``/.well-known``: the public keys (RFC 7517 §5: next, active and retired) and the
authorization server's metadata (RFC 8414, OpenID Connect Discovery)."""

from __future__ import annotations

import base64
import hashlib
import json
import operator
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import Route

from ostiary.jose import ALGORITHMS
from ostiary.keys.ring import ManagedKey
from ostiary.server.dependencies import AppServices, get_services
from ostiary.server.hot_paths import Answer
from ostiary.server.middleware import Receive, Scope
from ostiary.settings import Settings
from ostiary.storage.records import ClientAuthMethod
from ostiary.wiring import Services, published_keys

router = APIRouter(tags=["keys"])
JWKS_MEDIA_TYPE = "application/jwk-set+json"
#: Client assertions (private_key_jwt) are asymmetric: the client's public keys verify them.
ASSERTION_ALGS: Final = sorted(a for a in ALGORITHMS if not a.startswith("HS"))


class PublishedKeys:
    """The JWKS document as the bytes served, with their ``ETag``, and the two answers made of
    them (200 and 304, status, raw headers and body), prepared once per change of the key
    rings: a request compares the rings' keys with those the answers were made from, and they
    are made again only when a key was added, promoted, retired or removed (by this process's
    schedule or another's, once the ring is reloaded). ``max_age`` is
    ``OSTIARY_JWKS_MAX_AGE``. One per app (``app.state.published_keys``): :func:`jwks` and
    :meth:`hot_answer` serve the same bytes."""

    __slots__ = ("_made_from", "body", "document", "etag", "max_age", "not_modified")

    def __init__(self, max_age: int) -> None:
        self._made_from: tuple[ManagedKey, ...] | None = None
        self.max_age = max_age
        self.body = b""
        self.etag = ""
        self.document = Answer(200, (), b"")
        self.not_modified = Answer(304, (), b"")

    def current(self, services: Services) -> PublishedKeys:
        # The keys themselves, compared by identity: a ManagedKey is frozen, so a key added,
        # promoted or retired is a new object (and so is every key of a ring read again, after
        # which the same bytes are made once more). Never by equality, which would compute
        # thumbprints. (The access and ID-token rings; one ring twice when one service has
        # both: no matter.)
        made_from = (*services.keys.ring, *services.id_keys.ring)
        previous = self._made_from
        if (
            previous is None
            or len(made_from) != len(previous)
            or any(map(operator.is_not, made_from, previous))
        ):
            body = json.dumps(published_keys(services), separators=(",", ":")).encode()
            digest = hashlib.sha256(body).digest()[:18]
            etag = f'"{base64.urlsafe_b64encode(digest).decode()}"'
            caching = [
                (b"cache-control", f"public, max-age={self.max_age}".encode()),
                (b"etag", etag.encode()),
            ]
            self.body, self.etag = body, etag
            # What Starlette's Response(body, media_type=...) and Response(status_code=304)
            # would send: a 304 has no body, so neither Content-Length nor Content-Type.
            self.document = Answer(
                200,
                (
                    *caching,
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", JWKS_MEDIA_TYPE.encode()),
                ),
                body,
            )
            self.not_modified = Answer(304, tuple(caching), b"")
            self._made_from = made_from
        return self

    @property
    def made_from(self) -> tuple[ManagedKey, ...]:
        """The keys the answers were made from (none before the first request)."""
        return self._made_from or ()

    def answer(self, if_none_match: str | None) -> Answer:
        """The 200, or the 304 for a matching ``If-None-Match`` (RFC 9110 §13.1.2)."""
        if if_none_match is not None and etag_matches(if_none_match, self.etag):
            return self.not_modified
        return self.document

    async def hot_answer(self, scope: Scope, receive: Receive) -> Answer:
        """``GET /.well-known/jwks.json`` for the hot paths (:mod:`ostiary.server.hot_paths`):
        what :func:`jwks` answers, from the same bytes and headers."""
        services = scope["app"].state.services
        if not isinstance(services, Services):
            raise RuntimeError("the server's lifespan has not run")  # noqa: TRY004
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":  # the first, as Starlette's Headers.get reads it
                if_none_match = value.decode("latin-1")
                break
        return self.current(services).answer(if_none_match)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: ``If-None-Match`` holds ``*`` or a list of entity tags compared
    weakly (``W/"x"`` matches ``"x"``)."""
    if if_none_match.strip() == "*":
        return True
    return any(
        tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(",") if tag.strip()
    )


JWKS_PATH: Final = "/.well-known/jwks.json"


def jwks_route() -> Route:
    """A plain Starlette route, put first in the app's routes (as the token endpoint is):
    every resource service and cache asks for it, and a match there costs no walk through
    the included routers nor dependency resolution. (``GET`` itself is answered before the
    routes, by :meth:`PublishedKeys.hot_answer` through :mod:`ostiary.server.hot_paths`;
    ``HEAD`` comes here.)"""
    return Route(JWKS_PATH, jwks, methods=["GET"], name="jwks")


def jwks_openapi_operation() -> dict[str, Any]:
    """``GET /.well-known/jwks.json`` for the OpenAPI document."""
    return {
        "tags": ["keys"],
        "summary": "The public keys (RFC 7517 §5)",
        "description": "Next, active and retired keys, public members only. Cacheable for "
        "OSTIARY_JWKS_MAX_AGE seconds; a strong ETag, If-None-Match answered 304.",
        "responses": {
            "200": {"description": "The JWK Set", "content": {JWKS_MEDIA_TYPE: {}}},
            "304": {"description": "Not modified: the If-None-Match tag is current"},
        },
    }


async def jwks(request: Request) -> Response:
    """RFC 7517 §5. Cacheable for ``jwks_max_age`` seconds: a next key is announced here
    longer than that before it signs, so no cache misses it. Served from prepared bytes with
    a strong ``ETag``; a matching ``If-None-Match`` gets ``304 Not Modified`` (RFC 9110
    §15.4.5) with the same caching headers and no body."""
    services = await get_services(request)
    published: PublishedKeys = request.app.state.published_keys
    answer = published.current(services).answer(request.headers.get("if-none-match"))
    response = Response(answer.body, status_code=answer.status)
    response.raw_headers = list(answer.headers)
    return response


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
        # RFC 9449 §5.1: the algorithms a DPoP proof may be signed with.
        "dpop_signing_alg_values_supported": list(settings.dpop_signing_algs),
    }
