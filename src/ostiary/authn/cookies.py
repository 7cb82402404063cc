"""The authorization server's browser cookies."""

from __future__ import annotations

from typing import Literal, Protocol
from urllib.parse import urlsplit

from ostiary.hosts import LOOPBACK_HOSTS


class Response(Protocol):
    """What a cookie is set on: Starlette's ``Response`` has these two methods."""

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None: ...

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None: ...


class Cookies:
    """The cookie names and flags: ``__Host-`` names with ``Secure`` unless, in dev mode, the
    issuer is plain HTTP on a loopback host (a developer's machine), where browsers would not
    send a ``Secure`` cookie reliably. A plain-HTTP issuer anywhere else, or outside dev mode,
    still gets ``Secure`` cookies, which browsers refuse over HTTP: single sign-on then fails
    closed rather than send the session over the network in the clear."""

    def __init__(self, issuer: str, *, dev_mode: bool = False) -> None:
        parts = urlsplit(issuer)
        local_dev = dev_mode and parts.hostname in LOOPBACK_HOSTS
        self.secure = parts.scheme == "https" or not local_dev
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
