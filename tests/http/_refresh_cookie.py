"""Browser mode of ``/auth`` as a single-page app drives it: log in with ``"cookie": true``,
then refresh and log out with the cookie, the page's ``Origin`` and the ``X-CSRF-Token``."""

from __future__ import annotations

from typing import Any, Final

import httpx

from ostiary.resource.csrf import CrossSiteRequest

from ._oauth import ISSUER
from ._server import PASSWORD, Server, oauth, problem

REFRESH_COOKIE: Final = "ostiary_refresh"  # no __Host- prefix on a plain-HTTP loopback issuer
SAME_ORIGIN: Final = {"Origin": ISSUER}
EVIL_ORIGIN: Final = "https://evil.example"
REFUSED: Final = oauth("access_denied", CrossSiteRequest.description)
REFUSED_PROBLEM: Final = problem(403, "Forbidden", CrossSiteRequest.description)


async def cookie_login(server: Server, **headers: str) -> dict[str, Any]:
    """Log ``alice`` in in browser mode from the issuer's origin; the body of the answer."""
    response = await server.client.post(
        "/auth/login",
        json={"username": "alice", "password": PASSWORD, "cookie": True},
        headers={**SAME_ORIGIN, **headers},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh_cookie(server: Server) -> str | None:
    return server.client.cookies.get(REFRESH_COOKIE)


async def cookie_refresh(
    server: Server, csrf_token: str | None, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    """``POST /auth/refresh`` carried by the cookie (``headers`` replace the page's Origin)."""
    sent = dict(SAME_ORIGIN if headers is None else headers)
    if csrf_token is not None:
        sent["X-CSRF-Token"] = csrf_token
    return await server.client.post("/auth/refresh", headers=sent)


async def cookie_logout(
    server: Server, csrf_token: str | None, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = dict(SAME_ORIGIN if headers is None else headers)
    if csrf_token is not None:
        sent["X-CSRF-Token"] = csrf_token
    return await server.client.post("/auth/logout", headers=sent)


def set_cookie_of(response: httpx.Response, name: str) -> dict[str, str]:
    """The attributes of the ``Set-Cookie`` for ``name`` (lower-case keys; ``""`` the value)."""
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        cookie, _, value = first.partition("=")
        if cookie == name:
            parsed = {"": value}
            for attribute in attributes:
                key, _, content = attribute.partition("=")
                parsed[key.lower()] = content
            return parsed
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")
