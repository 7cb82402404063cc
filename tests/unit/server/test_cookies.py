"""The SSO and CSRF cookies: ``__Host-`` and Secure everywhere but a plain-HTTP loopback issuer
in dev mode."""

from __future__ import annotations

import pytest
from fastapi import Response

from ostiary.authn.cookies import Cookies


@pytest.mark.parametrize("dev_mode", [False, True])
@pytest.mark.parametrize(
    "issuer",
    ["https://auth.example.com", "https://127.0.0.1:8443", "http://auth.example.com"],
)
def test_secure_host_cookies_unless_plain_http_on_loopback(issuer: str, dev_mode: bool) -> None:
    cookies = Cookies(issuer, dev_mode=dev_mode)
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
def test_a_plain_http_loopback_issuer_gets_plain_cookies_in_dev_mode(issuer: str) -> None:
    cookies = Cookies(issuer, dev_mode=True)
    assert not cookies.secure
    assert cookies.sso == "ostiary_sso"
    response = Response()
    cookies.set(response, cookies.sso, "value", max_age=None)
    header = response.headers["set-cookie"].lower()
    assert "secure" not in header
    assert "httponly" in header


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_outside_dev_mode_even_a_loopback_issuer_gets_secure_cookies(issuer: str) -> None:
    """Plain cookies are a developer's convenience only: a production server that someone
    left on a plain-HTTP loopback issuer (behind a proxy, say) fails closed."""
    cookies = Cookies(issuer)
    assert cookies.secure
    assert cookies.sso == "__Host-ostiary_sso"
    response = Response()
    cookies.set(response, cookies.sso, "value", max_age=None)
    assert "secure" in response.headers["set-cookie"].lower()
