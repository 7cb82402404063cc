"""The refresh cookie of ``/auth``'s browser mode: the refresh token in an ``HttpOnly``
cookie, the access token in the response body only, for a single-page app to hold in memory.

The cookie is ``__Host-ostiary_refresh`` (``Secure``, ``SameSite=Strict``, ``Path=/``), or
``ostiary_refresh`` without ``Secure`` in dev mode on a plain-HTTP loopback issuer. Since a
browser sends it by itself, every request it carries must come from an allowed origin (the
issuer's, or one of ``OSTIARY_CORS_ORIGINS``) and echo a CSRF token in ``X-CSRF-Token``
(:mod:`ostiary.resource.csrf`). The token is an HMAC of the refresh token, handed out in the
login and refresh responses for the app to keep in memory: no readable cookie, so
``document.cookie`` stays empty, and a token planted by a sibling host matches no cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated, Final

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse

from ostiary.authn.cookies import Cookies
from ostiary.authn.first_party import TokenPair
from ostiary.encoding import b64url
from ostiary.resource.csrf import CSRF_HEADER, check_double_submit, check_origin, origin_of
from ostiary.server.dependencies import AppServices
from ostiary.server.errors import NO_STORE
from ostiary.server.schemas import BrowserTokenResponse
from ostiary.settings import Settings
from ostiary.wiring import derived_secret

REFRESH_COOKIE: Final = "ostiary_refresh"
_SECRET_LABEL: Final = b"ostiary refresh cookie csrf v1"
_STATE_ATTR: Final = "ostiary_refresh_cookie"


class RefreshCookie:
    """The refresh cookie's name, flags and CSRF checks for one server."""

    def __init__(self, settings: Settings, *, secret: bytes) -> None:
        # The SSO cookies' rule: Secure-less only in dev mode on a plain-HTTP loopback issuer.
        self.secure = Cookies(settings.issuer, dev_mode=settings.dev_mode).secure
        self.name = f"__Host-{REFRESH_COOKIE}" if self.secure else REFRESH_COOKIE
        self.allowed_origins = frozenset({origin_of(settings.issuer), *settings.cors_origins})
        self._secret = secret

    def read(self, request: Request) -> str | None:
        return request.cookies.get(self.name) or None

    def csrf_token(self, refresh_token: str) -> str:
        mac = hmac.new(self._secret, refresh_token.encode(), hashlib.sha256).digest()
        return b64url(mac)

    def check_request_origin(self, request: Request) -> None:
        """:class:`~ostiary.resource.csrf.CrossSiteRequest` unless from an allowed origin."""
        headers = request.headers
        check_origin(headers.get("origin"), headers.get("sec-fetch-site"), self.allowed_origins)

    def check(self, request: Request, refresh_token: str) -> None:
        """The origin and the double-submit token of a request the cookie carries."""
        self.check_request_origin(request)
        check_double_submit(self.csrf_token(refresh_token), request.headers.get(CSRF_HEADER))

    def token_response(
        self, pair: TokenPair, *, headers: Mapping[str, str] | None = None
    ) -> JSONResponse:
        """The token response without ``refresh_token``, which goes into the cookie;
        ``headers`` are added (``DPoP-Nonce``)."""
        body = BrowserTokenResponse(
            access_token=pair.access.token,
            token_type=pair.token_type,
            expires_in=pair.access.expires_in,
            refresh_token_expires_in=pair.refresh_expires_in,
            scope=pair.scope,
            csrf_token=self.csrf_token(pair.refresh_token),
        )
        response = JSONResponse(body.model_dump(), headers={**NO_STORE, **(headers or {})})
        response.set_cookie(
            self.name,
            pair.refresh_token,
            max_age=pair.refresh_expires_in,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )
        return response

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.name, path="/", secure=self.secure, httponly=True, samesite="strict"
        )


async def refresh_cookie(request: Request, services: AppServices) -> RefreshCookie:
    """The app's :class:`RefreshCookie`, made on first use (its key is derived from the
    master key, which the lifespan has made sure exists)."""
    made = getattr(request.app.state, _STATE_ATTR, None)
    if not isinstance(made, RefreshCookie):
        made = RefreshCookie(
            services.settings, secret=derived_secret(services.settings, _SECRET_LABEL)
        )
        setattr(request.app.state, _STATE_ATTR, made)
    return made


Browser = Annotated[RefreshCookie, Depends(refresh_cookie)]
