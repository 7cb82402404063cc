"""The server-rendered pages without a browser: what they escape, which fields they carry,
and the headers every one of them answers with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from typing import Final

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse

from ostiary.server.pages import (
    STYLESHEET_PATH,
    consent_page,
    error_page,
    logged_out_page,
    login_page,
    page_headers,
    static_route,
)

SCRIPT: Final = "<script>alert(1)</script>"
HIDDEN: Final = {"state": "a\"b'c<d>&e", "client_id": "acme"}
SCOPES: Final = [("openid", "Confirm who you are"), ("reports:read", "Read your reports")]
CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS: Final = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "cache-control": "no-store",
    "pragma": "no-cache",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "content-type": "text/html; charset=utf-8",
}


class Elements(HTMLParser):
    """The attributes of every element of a page, by tag, as a browser would decode them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str, **wanted: str) -> list[dict[str, str | None]]:
        return [
            attrs
            for name, attrs in self.tags
            if name == tag and all(attrs.get(k) == v for k, v in wanted.items())
        ]

    def hidden_fields(self) -> dict[str | None, str | None]:
        return {attrs["name"]: attrs["value"] for attrs in self.all("input", type="hidden")}


def _text(response: HTMLResponse) -> str:
    return bytes(response.body).decode("utf-8")


def _login(
    *,
    client_name: str | None = "Acme",
    username: str = "",
    error: str | None = None,
    form_action_sources: Sequence[str] = (),
    status_code: int = 200,
) -> HTMLResponse:
    return login_page(
        action="/oauth/authorize",
        csrf_token="csrf-1",
        hidden=HIDDEN,
        client_name=client_name,
        username=username,
        error=error,
        form_action_sources=form_action_sources,
        status_code=status_code,
    )


def _consent(
    *,
    client_name: str = "Acme",
    username: str = "alice",
    scopes: Sequence[tuple[str, str]] = SCOPES,
    form_action_sources: Sequence[str] = (),
) -> HTMLResponse:
    return consent_page(
        action="/oauth/authorize",
        csrf_token="csrf-1",
        hidden=HIDDEN,
        client_name=client_name,
        username=username,
        scopes=scopes,
        form_action_sources=form_action_sources,
    )


def _assert_page_headers(response: HTMLResponse, expected: Mapping[str, str]) -> None:
    for name, value in expected.items():
        assert response.headers[name] == value, name


# --- escaping ----------------------------------------------------------------------------


def test_login_page_escapes_the_client_name() -> None:
    html = _text(_login(client_name=SCRIPT))
    assert SCRIPT not in html
    assert "Sign in to continue to" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_hidden_values_with_quotes_are_escaped_and_come_back_intact() -> None:
    html = _text(_login())
    assert HIDDEN["state"] not in html
    assert Elements(html).hidden_fields() == {**HIDDEN, "csrf_token": "csrf-1"}


def test_consent_page_escapes_everything_it_shows() -> None:
    html = _text(_consent(client_name=SCRIPT, username=SCRIPT, scopes=[(SCRIPT, SCRIPT)]))
    assert "<script" not in html
    assert Elements(html).hidden_fields() == {**HIDDEN, "csrf_token": "csrf-1"}


def test_error_and_logged_out_pages_escape_their_text() -> None:
    assert "<script" not in _text(error_page(title=SCRIPT, message=SCRIPT, status_code=400))
    assert "<script" not in _text(logged_out_page(message=SCRIPT))


# --- headers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        _login(),
        _consent(),
        error_page(title="Unknown client", message="No such client.", status_code=400),
        logged_out_page(),
    ],
    ids=["login", "consent", "error", "logged-out"],
)
def test_every_page_carries_the_security_headers(response: HTMLResponse) -> None:
    _assert_page_headers(response, PAGE_HEADERS)
    assert f'<link rel="stylesheet" href="{STYLESHEET_PATH}">' in _text(response)
    assert "<script" not in _text(response)


def test_form_action_sources_are_added_to_the_policy() -> None:
    sources = ["https://app.example.com", "http://127.0.0.1:8765"]
    csp = CSP.replace("form-action 'self'", "form-action 'self' " + " ".join(sources))
    _assert_page_headers(_login(form_action_sources=sources), {"content-security-policy": csp})
    _assert_page_headers(_consent(form_action_sources=sources), {"content-security-policy": csp})


def test_status_codes() -> None:
    assert _login().status_code == 200
    assert _login(status_code=401).status_code == 401
    assert error_page(title="t", message="m", status_code=404).status_code == 404
    assert logged_out_page().status_code == 200


# --- form-action sources -------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com",
        "https://App.Example.COM:8443",
        "https://192.0.2.1",
        "https://[2001:db8::1]:443",
        "http://localhost",
        "http://localhost:3000",
        "http://127.0.0.1:65535",
        "http://[::1]:8080",
    ],
)
def test_origins_are_accepted(origin: str) -> None:
    assert origin in page_headers([origin])["Content-Security-Policy"]


@pytest.mark.parametrize(
    "source",
    [
        "http://app.example.com",  # plain http off the loopback
        "https://app.example.com/",  # a path: not an origin
        "https://app.example.com/callback",
        "https://app.example.com?x=1",
        "https://*.example.com",
        "https:",
        "*",
        "'self'",
        "'unsafe-inline'",
        "https://a.example; script-src *",
        "https://a.example https://b.example",
        "https://a.example\n",
        'https://a"example',
        "https://app.example.com:0",
        "https://app.example.com:65536",
        "https://app.example.com:",
        "http://localhost.evil.example",
        "HTTPS://app.example.com",
        "javascript:alert(1)",
        "",
    ],
)
def test_anything_but_an_origin_is_refused(source: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        page_headers([source])
    with pytest.raises(ValueError, match="origin"):
        _login(form_action_sources=[source])
    with pytest.raises(ValueError, match="origin"):
        _consent(form_action_sources=[source])


def test_one_string_is_not_a_list_of_origins() -> None:
    with pytest.raises(TypeError):
        page_headers("https://app.example.com")


# --- the login form ------------------------------------------------------------------------


def test_login_form_fields() -> None:
    elements = Elements(_text(_login()))
    (form,) = elements.all("form")
    assert form["method"] == "post"
    assert form["action"] == "/oauth/authorize"
    (username,) = elements.all("input", name="username")
    (password,) = elements.all("input", name="password")
    assert username["autocomplete"] == "username"
    assert password["autocomplete"] == "current-password"
    assert password["type"] == "password"
    labelled = {attrs["for"] for attrs in elements.all("label")}
    assert {username["id"], password["id"]} <= labelled


def test_login_without_a_client_name() -> None:
    html = _text(_login(client_name=None))
    assert "Sign in to continue to" not in html
    assert "<h1>Sign in</h1>" in html


def test_autofocus_goes_to_the_first_empty_field() -> None:
    fresh = Elements(_text(_login()))
    assert "autofocus" in fresh.all("input", name="username")[0]
    assert "autofocus" not in fresh.all("input", name="password")[0]

    retry = Elements(_text(_login(username="alice")))
    assert retry.all("input", name="username")[0]["value"] == "alice"
    assert "autofocus" not in retry.all("input", name="username")[0]
    assert "autofocus" in retry.all("input", name="password")[0]


def test_error_region_only_when_there_is_an_error() -> None:
    assert 'role="alert"' not in _text(_login())
    failed = _text(_login(error="The username or password is incorrect.", status_code=401))
    (alert,) = Elements(failed).all("div", role="alert")
    assert alert["id"] == "form-error"
    assert "The username or password is incorrect." in failed


# --- the consent form ----------------------------------------------------------------------


def test_consent_form_has_allow_and_deny_in_one_form() -> None:
    html = _text(_consent())
    elements = Elements(html)
    assert len(elements.all("form", method="post", action="/oauth/authorize")) == 1
    decisions = {attrs["value"] for attrs in elements.all("button", name="decision")}
    assert decisions == {"allow", "deny"}
    assert all(b["type"] == "submit" for b in elements.all("button"))
    for text in ("Confirm who you are", "openid", "Read your reports", "reports:read", "alice"):
        assert text in html


def test_consent_without_scopes_still_asks() -> None:
    html = _text(_consent(scopes=[]))
    assert "<ul" not in html
    assert "decision" in html


# --- the stylesheet ------------------------------------------------------------------------


async def test_stylesheet_route_serves_css() -> None:
    transport = httpx.ASGITransport(app=Starlette(routes=[static_route()]))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.get(STYLESHEET_PATH)
        head = await client.head(STYLESHEET_PATH)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/css; charset=utf-8"
    assert answer.headers["cache-control"] == "public, max-age=86400"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert ":root" in answer.text
    assert head.status_code == 200
