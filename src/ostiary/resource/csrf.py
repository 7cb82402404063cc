"""Cross-site request forgery checks for credentials a browser sends by itself (cookies).

A cookie rides along with any request a page of another site makes, so a request carried by
one must show it comes from an allowed origin (``Origin``, or ``Sec-Fetch-Site: same-origin``
when a browser sent no ``Origin``) and must carry a token in a header that only a page of that
origin can know (double submit). Both, as the OWASP CSRF cheat sheet advises: the origin
check stops forms and ``fetch`` of other sites, the header token also old browsers and
same-site sibling hosts. Framework-free: the resource toolkit and the server both use it.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from ostiary.errors import AccessDenied

CSRF_HEADER: Final = "x-csrf-token"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_MAX_TOKEN_LENGTH: Final = 200


class CrossSiteRequest(AccessDenied):
    """A cookie-carried request failed the origin or double-submit check: 403."""

    description = "The request did not come from an allowed origin with its CSRF token."


def origin_of(url: str) -> str:
    """The origin of ``url`` as a browser serializes it (RFC 6454 §6.2): lower-case scheme
    and host, the port only when it is not the scheme's default."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port in (None, _DEFAULT_PORTS.get(scheme)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def check_origin(origin: str | None, sec_fetch_site: str | None, allowed: Collection[str]) -> None:
    """Raise :class:`CrossSiteRequest` unless ``origin`` is one of ``allowed`` or, when the
    browser sent no ``Origin`` (``null`` counts as none), ``Sec-Fetch-Site`` is
    ``same-origin``. A request with neither header is refused: it proves nothing."""
    if origin is not None and origin != "null":
        if origin not in allowed:
            raise CrossSiteRequest(detail=f"origin {origin[:100]!r} not allowed")
        return
    if sec_fetch_site != "same-origin":
        raise CrossSiteRequest(detail=f"no Origin; Sec-Fetch-Site {str(sec_fetch_site)[:40]!r}")


def check_double_submit(expected: str | None, sent: str | None) -> None:
    """Raise :class:`CrossSiteRequest` unless the header token ``sent`` equals ``expected``
    (compared in constant time)."""
    if not expected or not sent or len(sent) > _MAX_TOKEN_LENGTH:
        raise CrossSiteRequest(detail="CSRF token missing")
    if not (expected.isascii() and sent.isascii()) or not hmac.compare_digest(expected, sent):
        raise CrossSiteRequest(detail="CSRF token does not match")


def parse_cookies(values: Iterable[str]) -> dict[str, str]:
    """The cookies of the ``Cookie`` header values ``values`` (RFC 6265 §5.4); the first of
    a repeated name wins, as browsers send the most specific first."""
    cookies: dict[str, str] = {}
    for value in values:
        for pair in value.split(";"):
            name, eq, content = pair.strip().partition("=")
            if eq and name and name not in cookies:
                cookies[name] = content.strip().strip('"')
    return cookies


@dataclass(frozen=True, slots=True)
class TokenCookie:
    """Opt-in: read the access token from the cookie ``name`` when a request carries no
    ``Authorization`` header, for browser apps that keep it in an ``HttpOnly`` cookie.

    A request carried by the cookie must come from one of ``allowed_origins`` and echo the
    value of the readable cookie ``csrf_cookie`` in the header ``csrf_header`` (double
    submit); otherwise it is refused with 403. WebSocket handshakes cannot send the header
    and are never authenticated by the cookie."""

    #: The cookie that holds the access token.
    name: str
    #: Origins (``scheme://host[:port]``) whose pages may send the cookie. Required.
    allowed_origins: Collection[str] = field(default_factory=frozenset)
    #: The readable cookie holding the double-submit token (default ``ostiary_csrf_token``).
    csrf_cookie: str = "ostiary_csrf_token"
    #: The header the page echoes it in (default ``X-CSRF-Token``).
    csrf_header: str = CSRF_HEADER

    def __post_init__(self) -> None:
        if not self.name or not self.csrf_cookie or self.name == self.csrf_cookie:
            raise ValueError("name and csrf_cookie must be two different cookie names")
        origins: object = self.allowed_origins
        if isinstance(origins, str) or not self.allowed_origins:
            raise ValueError("allowed_origins: name at least one origin (a collection)")
        object.__setattr__(self, "allowed_origins", frozenset(self.allowed_origins))
        object.__setattr__(self, "csrf_header", self.csrf_header.lower())

    def token(self, headers: Iterable[tuple[str, str]]) -> str | None:
        """The access token in the cookie if the request passes the CSRF checks; ``None``
        without the cookie. ``headers`` are (lower-case name, value) pairs."""
        cookie_values: list[str] = []
        found: dict[str, str] = {}
        for name, value in headers:
            if name == "cookie":
                cookie_values.append(value)
            elif name in ("origin", "sec-fetch-site", self.csrf_header):
                found.setdefault(name, value)
        cookies = parse_cookies(cookie_values)
        token = cookies.get(self.name)
        if not token:
            return None
        check_origin(found.get("origin"), found.get("sec-fetch-site"), self.allowed_origins)
        check_double_submit(cookies.get(self.csrf_cookie), found.get(self.csrf_header))
        return token
