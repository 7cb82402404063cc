"""The server-rendered pages a person sees (sign-in, consent, error, signed out) and their
stylesheet.

Jinja2 escapes everything it renders (autoescape on). Every page answers with a strict
Content-Security-Policy, no JavaScript and nothing from another origin, and may not be framed
(clickjacking, RFC 6749 §10.13) or cached (it carries a CSRF token and personal data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from jinja2 import Environment

STYLESHEET_PATH: Final = "/static/ostiary.css"

_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PORT: Final = r"(?::(?P<port>[0-9]{1,5}))?"
#: ``https://`` and a host name or address: origins only, so no path, query, wildcard or quote.
_HTTPS_ORIGIN: Final = re.compile(
    rf"https://(?i:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\]){_PORT}", re.ASCII
)
#: Plain ``http`` only for the loopback interface (native apps, RFC 8252 §7.3).
_LOOPBACK_ORIGIN: Final = re.compile(rf"http://(?:localhost|127\.0\.0\.1|\[::1\]){_PORT}", re.ASCII)


@cache
def _environment() -> Environment:
    """The templates' environment, made (and jinja2 imported) when a first page is rendered:
    a server that only issues tokens never loads it."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("ostiary.server", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def login_page(
    *,
    action: str,
    csrf_token: str,
    hidden: Mapping[str, str],
    client_name: str | None,
    username: str = "",
    error: str | None = None,
    form_action_sources: Sequence[str] = (),
    status_code: int = 200,
) -> HTMLResponse:
    """The sign-in form, POSTing ``username``, ``password``, ``csrf_token`` and ``hidden``
    to ``action``; ``error`` (for example a failed attempt) is shown above it."""
    context = {
        "action": action,
        "csrf_token": csrf_token,
        "hidden": hidden,
        "client_name": client_name,
        "username": username,
        "error": error,
    }
    return _render("login.html", context, status_code, form_action_sources)


def consent_page(
    *,
    action: str,
    csrf_token: str,
    hidden: Mapping[str, str],
    client_name: str,
    username: str,
    scopes: Sequence[tuple[str, str]],
    form_action_sources: Sequence[str] = (),
) -> HTMLResponse:
    """Ask ``username`` whether ``client_name`` may have ``scopes`` (name, description): one
    form whose buttons send ``decision=allow`` or ``decision=deny``."""
    context = {
        "action": action,
        "csrf_token": csrf_token,
        "hidden": hidden,
        "client_name": client_name,
        "username": username,
        "scopes": scopes,
    }
    return _render("consent.html", context, 200, form_action_sources)


def error_page(*, title: str, message: str, status_code: int) -> HTMLResponse:
    """An error a person reads, for when the browser cannot be sent back to the client (for
    example an unknown ``client_id`` or ``redirect_uri``, RFC 6749 §4.1.2.1)."""
    context = {"title": title, "message": message, "status_code": status_code}
    return _render("error.html", context, status_code)


def logged_out_page(*, message: str = "You have been signed out.") -> HTMLResponse:
    return _render("logged_out.html", {"message": message}, 200)


def static_route() -> Route:
    """``GET /static/ostiary.css``, the pages' stylesheet, for the app to mount (for example
    ``app.router.routes.append(static_route())``)."""
    return Route(STYLESHEET_PATH, _stylesheet_response, methods=["GET"], name="ostiary_css")


def page_headers(form_action_sources: Sequence[str] = ()) -> dict[str, str]:
    """The security headers of every page. ``form_action_sources`` are origins a form may also
    submit to: Chromium applies ``form-action`` to the redirect that answers a form POST, so
    the client's redirect origin must be listed. ValueError for anything but an origin."""
    if isinstance(form_action_sources, str):
        raise TypeError("form_action_sources is a sequence of origins, not one string")
    form_action = " ".join(["'self'", *map(_checked_origin, form_action_sources)])
    return {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'self'; img-src 'self' data:; "
            f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def _checked_origin(source: str) -> str:
    """``source`` if it is an ``https`` origin or an ``http`` loopback one: it goes into a
    header, where whitespace, a quote or a semicolon would add to the policy."""
    match = _HTTPS_ORIGIN.fullmatch(source) or _LOOPBACK_ORIGIN.fullmatch(source)
    port = match and match.group("port")
    if match is None or (port is not None and not 0 < int(port) < 65536):
        raise ValueError(
            f"not an https origin or an http loopback origin (scheme://host[:port]): {source!r}"
        )
    return source


def _render(
    template: str,
    context: Mapping[str, object],
    status_code: int,
    form_action_sources: Sequence[str] = (),
) -> HTMLResponse:
    headers = page_headers(form_action_sources)  # first: a bad origin renders nothing
    html = _environment().get_template(template).render({**context, "stylesheet": STYLESHEET_PATH})
    return HTMLResponse(html, status_code=status_code, headers=headers)


@cache
def _stylesheet() -> bytes:
    return files("ostiary.server").joinpath("static", "ostiary.css").read_bytes()


async def _stylesheet_response(request: Request) -> Response:
    # Not no-store like the pages: the stylesheet is public and the same for everyone.
    return Response(
        _stylesheet(),
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
