"""The authorization server's browser cookies."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Response


class Cookies:
    """The cookie names: ``__Host-`` with ``Secure`` on HTTPS; on a plain-HTTP loopback issuer
    (a developer's machine) neither, since browsers keep no ``Secure`` cookie from plain
    HTTP there reliably."""

    def __init__(self, issuer: str) -> None:
        parts = urlsplit(issuer)
        self.secure = parts.scheme == "https"
        prefix = "__Host-" if self.secure else ""
        self.sso = f"{prefix}ostiary_sso"
        self.csrf = f"{prefix}ostiary_csrf"

    def set(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.secure, httponly=True, samesite="lax")
