"""``GET /spa/`` and ``/spa/app.js`` in demo mode: a single-page app in browser mode (the
refresh token in an ``HttpOnly`` cookie, the access token in a JavaScript variable). Plain
HTML and one script file, so that a strict ``script-src 'self'`` holds: no inline script."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE_PATH: Final = "/spa/"
SCRIPT_PATH: Final = "/spa/app.js"
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _asset(name: str) -> bytes:
    return files("ostiary.server").joinpath("static", "spa", name).read_bytes()


async def _page(request: Request) -> Response:
    return Response(_asset("index.html"), media_type="text/html; charset=utf-8", headers=_HEADERS)


async def _script(request: Request) -> Response:
    return Response(_asset("app.js"), media_type="text/javascript; charset=utf-8", headers=_HEADERS)


def spa_routes() -> list[Route]:
    return [
        Route(PAGE_PATH, _page, methods=["GET"], name="demo_spa"),
        Route(SCRIPT_PATH, _script, methods=["GET"], name="demo_spa_script"),
    ]
