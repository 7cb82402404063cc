"""The SSO and CSRF cookies: ``__Host-`` and Secure everywhere but a plain-HTTP loopback issuer."""

from __future__ import annotations

import pytest
from fastapi import Response

from ostiary.server.cookies import Cookies


@pytest.mark.parametrize(
    "issuer",
    ["https://auth.example.com", "https://127.0.0.1:8443", "http://auth.example.com"],
)
def test_secure_host_cookies_unless_plain_http_on_loopback(issuer: str) -> None:
    cookies = Cookies(issuer)
    assert cookies.secure
    assert (cookies.sso, cookies.csrf) == ("__Host-ostiary_sso", "__Host-ostiary_csrf")
    response = Response()
    cookies.set(response, cookies.sso, "value", max_age=60)
    header = response.headers["set-cookie"].lower()
    for flag in ("secure", "httponly", "samesite=lax", "path=/"):
        assert flag in header
    assert "domain=" not in header  # __Host- cookies never name a domain


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_a_plain_http_loopback_issuer_gets_plain_cookies(issuer: str) -> None:
    cookies = Cookies(issuer)
    assert not cookies.secure
    assert cookies.sso == "ostiary_sso"
    response = Response()
    cookies.set(response, cookies.sso, "value", max_age=None)
    header = response.headers["set-cookie"].lower()
    assert "secure" not in header
    assert "httponly" in header
