"""What the browser pages of ``/oauth`` (authorization, logout) share: a CSRF token bound to a
cookie (double submit, HMAC-bound) on every form, the same-origin check of a form POST, the
pages' ``form-action`` sources, and the 303 redirect back to a client."""

from __future__ import annotations

import logging
import secrets
from typing import Final
from urllib.parse import urlencode, urlsplit

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from ostiary.grants import OAuthParams
from ostiary.resource.csrf import origin_of
from ostiary.server.dependencies import AppServices
from ostiary.server.pages import page_headers

log = logging.getLogger("ostiary.server")

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def csrf_binding(request: Request, services: AppServices) -> tuple[str, str]:
    """The CSRF cookie's binding (the one the browser has, or a new one) and its form token."""
    binding = request.cookies.get(services.oauth.cookies.csrf) or secrets.token_urlsafe(24)
    return binding, services.oauth.browser_sessions.csrf_token(binding)


def keep_csrf(response: Response, services: AppServices, request: Request, binding: str) -> None:
    """Set the CSRF cookie on ``response`` unless the browser has it already."""
    if request.cookies.get(services.oauth.cookies.csrf) != binding:
        services.oauth.cookies.set(response, services.oauth.cookies.csrf, binding, max_age=None)


def csrf_ok(request: Request, services: AppServices, form: OAuthParams) -> bool:
    """Whether the form's ``csrf_token`` matches the browser's CSRF cookie."""
    return services.oauth.browser_sessions.csrf_matches(
        request.cookies.get(services.oauth.cookies.csrf), form.get("csrf_token")
    )


def same_origin(request: Request, services: AppServices) -> bool:
    """A browser's ``Origin`` (or ``Sec-Fetch-Site``) on a form POST must be this server."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return origin == origin_of(services.settings.issuer)
    site = request.headers.get("sec-fetch-site")
    return site in (None, "same-origin", "none")


def form_action_origins(redirect_uri: str | None) -> list[str]:
    """The client's redirect origin, for the pages' ``form-action`` (Chromium applies it to
    the redirect that answers the form); none if a CSP source cannot name it (the page must
    still render)."""
    if redirect_uri is None or urlsplit(redirect_uri).scheme not in _DEFAULT_PORTS:
        return []
    origin = origin_of(redirect_uri)
    try:
        page_headers([origin])
    except ValueError:
        log.info("no form-action source for the redirect origin %r", origin[:100])
        return []
    return [origin]


def redirect_to(uri: str, params: dict[str, str]) -> RedirectResponse:
    """A 303 to ``uri`` with ``params`` added to its query, stored nowhere, no referrer."""
    separator = "&" if urlsplit(uri).query else "?"
    target = uri + separator + urlencode(params) if params else uri
    response = RedirectResponse(target, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
