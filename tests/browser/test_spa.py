"""The browser-mode single-page app of ``ostiary serve --demo`` (``/spa/``) in Chromium: sign
in, see the profile from the demo API, refresh, sign out. After every step no token is in
``localStorage``, ``sessionStorage`` or ``document.cookie``, and the refresh cookie is
``HttpOnly`` and ``SameSite=Strict``; the page breaks no rule of its strict CSP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser._spa import READABLE_STORAGE, REFRESH_COOKIE
from tests.http._live import LiveServer, live_server

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Cookie, Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("spa")) as live:
        yield live


def refresh_cookie(context: BrowserContext) -> Cookie:
    cookies = [c for c in context.cookies() if c.get("name") == REFRESH_COOKIE]
    assert len(cookies) == 1, context.cookies()
    return cookies[0]


def assert_nothing_readable(page: Page, context: BrowserContext) -> None:
    """No storage holds anything and no cookie is readable; every cookie is HttpOnly."""
    assert page.evaluate(READABLE_STORAGE) == {"local": [], "session": [], "cookie": ""}
    assert all(cookie.get("httpOnly") for cookie in context.cookies())
    assert page.evaluate("window.__cspViolations") == []


def test_the_spa_signs_in_refreshes_and_signs_out_without_exposing_tokens(
    server: LiveServer, context: BrowserContext, screenshots_dir: Path, expect: Any
) -> None:
    page = context.new_page()
    answers: list[str] = []
    page.on("response", lambda r: answers.append(f"{r.request.method} {r.url} {r.status}"))
    response = page.goto(server.base_url + "/spa/")
    assert response is not None and response.ok
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert_nothing_readable(page, context)

    # Sign in: the profile comes from the demo API with the in-memory access token.
    page.fill("#username", "alice")
    page.fill("#password", server.alice_password)
    page.click("#sign-in")
    expect(page.locator("#sub")).not_to_be_empty()
    assert page.is_visible("#app") and not page.is_visible("#login")
    assert page.text_content("#roles") == "user"
    session = page.text_content("#session")
    assert session
    cookie = refresh_cookie(context)
    assert cookie.get("httpOnly") is True
    assert cookie.get("sameSite") == "Strict"
    assert cookie.get("path") == "/"
    assert_nothing_readable(page, context)
    page.screenshot(path=screenshots_dir / "spa-signed-in.png", full_page=True)

    # Refresh: the cookie rotates, the session stays, the profile still loads.
    page.click("#refresh")
    expect(page.locator("#refreshes")).to_have_text("1")
    expect(page.locator("#status")).to_have_text("Refreshed.")
    rotated = refresh_cookie(context)
    assert rotated.get("value") != cookie.get("value")
    assert rotated.get("httpOnly") is True
    assert page.text_content("#session") == session
    assert_nothing_readable(page, context)

    # Sign out: the cookie is gone and the form is back.
    page.click("#sign-out")
    expect(page.locator("#status")).to_have_text("Signed out.")
    assert page.is_visible("#login") and not page.is_visible("#app")
    assert [c for c in context.cookies() if c.get("name") == REFRESH_COOKIE] == []
    assert_nothing_readable(page, context)
    assert any(a.startswith("POST") and "/auth/logout" in a and a.endswith("204") for a in answers)


def test_a_page_of_another_origin_cannot_use_the_cookie(
    server: LiveServer, context: BrowserContext, expect: Any
) -> None:
    """Sign in on the SPA, then from ``localhost`` (another origin and site) try to refresh
    with the cookie: the ``X-CSRF-Token`` header makes the browser ask first (a CORS
    preflight), which a server with no CORS origins never allows, so the request is never
    sent and the page sees a network error. (``SameSite=Strict`` keeps the cookie home, and
    the Origin check refuses it with 403: tests/security/test_refresh_cookie_csrf.py.) The
    cookie is not rotated."""
    page = context.new_page()
    page.goto(server.base_url + "/spa/")
    page.fill("#username", "alice")
    page.fill("#password", server.alice_password)
    page.click("#sign-in")
    expect(page.locator("#sub")).not_to_be_empty()
    before = refresh_cookie(context).get("value")
    other = context.new_page()
    other.goto(server.base_url.replace("127.0.0.1", "localhost") + "/spa/")
    status = other.evaluate(
        f"""() => fetch("{server.base_url}/auth/refresh", {{
            method: "POST", credentials: "include", headers: {{"X-CSRF-Token": "guess"}}
        }}).then((r) => r.status, () => "blocked")"""
    )
    assert status == "blocked"
    assert refresh_cookie(context).get("value") == before
